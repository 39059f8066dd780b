// `/account/sessions`: every session of the account, whatever its kind, with a page for each;
// ending one (its device leaves the homeserver), and naming a device. Ending goes through the
// kind's own path: an OAuth 2.0 session by destroying its grant (oidc/sessions.ts), a legacy
// one through compat/sessions.ts, a browser by finishing it (this browser: signing out).
import express, { type Request, type Response, type Router } from 'express';
import {
  MAX_DEVICE_NAME_LENGTH,
  SESSION_KINDS,
  checkDeviceName,
  findUserSession,
  listUserSessions,
  renameDevice,
  type SessionKind,
  type UserSession,
} from '../../accounts/user-sessions.js';
import { endCompatSessions } from '../../compat/sessions.js';
import { endOAuthSession } from '../../oidc/sessions.js';
import * as browserSessions from '../../storage/browser-sessions.js';
import * as compat from '../../storage/compat.js';
import * as oauth2Sessions from '../../storage/oauth2-sessions.js';
import { SESSION_COOKIE, cookieOptions, csrfToken } from '../../web/browser.js';
import { csrfForm } from '../../web/forms.js';
import { msg, type Message } from '../../web/i18n.js';
import type { ViewDeps } from '../deps.js';
import { timeView, type AccountPages, type SignedIn } from './common.js';

/** What a session is called: the name of its device or app, else what it is. */
function sessionTitle(s: UserSession): Message {
  if (s.kind === 'browser') return msg(s.current ? 'account_session.title_this_browser' : 'account_session.title_browser');
  if (s.humanName) return msg('account_session.title_named', { name: s.humanName });
  if (s.client?.name) return msg('account_session.title_named', { name: s.client.name });
  if (s.kind === 'oauth2') return msg('account_session.title_app', { client: s.client?.id ?? '' });
  return msg('account_session.title_legacy');
}

const renameProblem = (problem: 'missing' | 'too_long' | 'control_characters' | 'no_device'): Message =>
  problem === 'too_long'
    ? msg('account_session.name_too_long', { max: MAX_DEVICE_NAME_LENGTH })
    : msg(problem === 'no_device' ? 'account_session.no_device' : problem === 'control_characters' ? 'account_session.name_control_characters' : 'account_session.name_missing');

function sessionView(s: UserSession) {
  return {
    title: sessionTitle(s),
    kind: s.kind,
    id: s.id,
    path: `/account/sessions/${s.kind}/${s.id}`,
    device_id: s.deviceId,
    name: s.humanName,
    client: s.client,
    created: timeView(s.createdAt),
    last_active: timeView(s.lastActiveAt),
    ip: s.ip,
    user_agent: s.userAgent,
    current: s.current,
    renamable: s.kind !== 'browser' && !!s.deviceId,
  };
}

const kindOf = (value: unknown): SessionKind | undefined =>
  typeof value === 'string' && (SESSION_KINDS as readonly string[]).includes(value) ? (value as SessionKind) : undefined;

export async function renderSessionList(
  deps: ViewDeps,
  pages: AccountPages,
  req: Request,
  res: Response,
  current: SignedIn,
  status = 200,
  extra: Record<string, unknown> = {},
): Promise<void> {
  const all = await listUserSessions(deps.app, deps.provider, current.user.id, current.session.id);
  pages.render(req, res, status, 'account_sessions', current, { sessions: all.map(sessionView), ...extra });
}

export function sessionsRouter(deps: ViewDeps, pages: AccountPages): Router {
  const { app, provider, renderer } = deps;
  const router = express.Router();
  const form = csrfForm(renderer);

  /** The session a request names (path or form), if it is the user's and live. */
  async function named(current: SignedIn, kind: unknown, id: unknown): Promise<UserSession | undefined> {
    const k = kindOf(kind);
    // No id holds a NUL (PostgreSQL could not even compare one): such a request names nothing.
    if (!k || typeof id !== 'string' || !id || id.includes('\u0000')) return undefined;
    return findUserSession(app, provider, current.user.id, k, id, current.session.id);
  }

  const gone = (req: Request, res: Response, current: SignedIn) => renderSessionList(deps, pages, req, res, current, 404, { error: msg('account_sessions.not_found') });

  const renderDetail = (req: Request, res: Response, current: SignedIn, session: UserSession, status = 200, extra: Record<string, unknown> = {}) =>
    pages.render(req, res, status, 'account_session', current, { session: sessionView(session), ...extra });

  router.get('/account/sessions', async (req, res) => {
    const current = await pages.signedIn(req, res);
    if (current) await renderSessionList(deps, pages, req, res, current);
  });

  router.get('/account/sessions/:kind/:id', async (req, res) => {
    const current = await pages.signedIn(req, res);
    if (!current) return;
    const session = await named(current, req.params.kind, req.params.id);
    if (!session) return gone(req, res, current);
    renderDetail(req, res, current, session);
  });

  router.get('/account/sessions/:kind/:id/end', async (req, res) => {
    const current = await pages.signedIn(req, res);
    if (!current) return;
    const session = await named(current, req.params.kind, req.params.id);
    if (!session) return gone(req, res, current);
    pages.render(req, res, 200, 'account_session_end', current, { session: sessionView(session) });
  });

  router.post('/account/sessions/end', form, async (req, res) => {
    const current = await pages.signedIn(req, res, '/account/sessions');
    if (!current) return;
    const session = await named(current, req.body?.kind, req.body?.session_id);
    if (!session) return gone(req, res, current);
    if (session.kind === 'browser' && session.current) {
      // Ending this browser's own session is signing out here.
      await browserSessions.finishForUser(app.sql, current.user.id, session.id);
      res.clearCookie(SESSION_COOKIE, { ...cookieOptions(app.config), signed: undefined });
      return renderer.send(res, 200, 'logout', { csrf: csrfToken(app.config, req, res, app.random) });
    }
    await endSession(current, session);
    await renderSessionList(deps, pages, req, res, current, 200, { notice: msg('account_sessions.ended') });
  });

  async function endSession(current: SignedIn, session: UserSession): Promise<void> {
    const userId = current.user.id;
    if (session.kind === 'oauth2') {
      const live = await oauth2Sessions.findLiveForUser(app.sql, userId, session.id);
      if (live) await endOAuthSession(provider, live.grant_id);
    } else if (session.kind === 'compat') {
      await endCompatSessions(app, async (tx) => {
        const live = await compat.findLiveForUser(tx, userId, session.id);
        const ended = live ? await compat.finishSession(tx, live.id) : undefined;
        return ended ? [ended] : [];
      });
    } else {
      await browserSessions.finishForUser(app.sql, userId, session.id);
    }
  }

  router.post('/account/sessions/rename', form, async (req, res) => {
    const current = await pages.signedIn(req, res, '/account/sessions');
    if (!current) return;
    const session = await named(current, req.body?.kind, req.body?.session_id);
    if (!session) return gone(req, res, current);
    const typed = typeof req.body?.display_name === 'string' ? req.body.display_name : '';
    if (session.kind === 'browser' || !session.deviceId) return renderDetail(req, res, current, session, 400, { errors: { display_name: renameProblem('no_device') } });
    const checked = checkDeviceName(typed);
    if (!checked.ok) return renderDetail(req, res, current, session, 400, { errors: { display_name: renameProblem(checked.problem) }, typed_name: typed });
    if (!(await renameDevice(app, session, current.user.id, checked.value))) return gone(req, res, current);
    renderDetail(req, res, current, { ...session, humanName: checked.value }, 200, { notice: msg('account_session.renamed') });
  });

  return router;
}
