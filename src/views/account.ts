// The account management page (the discovery's account_management_uri), sign-in outside an
// authorization request, and sign-out.
import { matrixUserId } from '../domain/usernames.js';
import { endOAuthSession } from '../oidc/sessions.js';
import express, { type Request, type Response, type Router } from 'express';
import type { ViewDeps } from './deps.js';
import * as sessions from '../storage/oauth2-sessions.js';
import * as browserSessions from '../storage/browser-sessions.js';
import { SESSION_COOKIE, cookieOptions, csrfToken, currentSession, startSession, safeNext } from '../web/browser.js';
import { loginError, loginErrorStatus } from './login.js';
import { authenticatePassword } from '../accounts/authenticate.js';
import { loginButtons } from '../upstream/providers.js';
import { csrfForm } from '../web/forms.js';

export function accountRouter({ app, provider, renderer, hasher, limiter, directory }: ViewDeps): Router {
  const router = express.Router();
  const form = csrfForm(renderer);
  const page = renderer.send;
  const mxid = (username: string) => matrixUserId(username, app.config.matrix.homeserver);

  const renderLogin = (req: Request, res: Response, status: number, next: string, error?: string, username = '') =>
    page(res, status, 'login', {
      action: `/login?next=${encodeURIComponent(next)}`,
      csrf: csrfToken(app.config, req, res, app.random),
      error,
      username,
      passwords_enabled: app.config.passwords.enabled,
      upstream_providers: loginButtons(app.config, next),
      registration_url: app.config.account.password_registration_enabled ? `/register?next=${encodeURIComponent(next)}` : undefined,
      recovery_url: app.config.account.password_recovery_enabled ? '/recover' : undefined,
    });

  router.get('/login', async (req, res) => {
    const next = safeNext(req.query.next);
    if (await currentSession(app, req)) return res.redirect(303, next);
    renderLogin(req, res, 200, next);
  });

  router.post('/login', form, async (req, res) => {
    const next = safeNext(req.query.next);
    const username = typeof req.body?.username === 'string' ? req.body.username : '';
    const password = typeof req.body?.password === 'string' ? req.body.password : '';
    if (!username || !password) return renderLogin(req, res, 400, next, 'Enter your username and password.', username);
    const outcome = await authenticatePassword(app, { hasher, limiter, directory }, { kind: 'user', name: username }, password, req.ip);
    if (!outcome.ok) return renderLogin(req, res, loginErrorStatus(outcome, res), next, loginError(outcome), username);
    await startSession(app, req, res, outcome.user.id);
    res.redirect(303, next);
  });

  router.get('/logout', async (req, res) => {
    const current = await currentSession(app, req);
    page(res, 200, 'logout', {
      csrf: csrfToken(app.config, req, res, app.random),
      user: current ? { mxid: mxid(current.user.username) } : undefined,
    });
  });

  router.post('/logout', form, async (req, res) => {
    const current = await currentSession(app, req);
    if (current) await browserSessions.finish(app.sql, current.session.id);
    res.clearCookie(SESSION_COOKIE, { ...cookieOptions(app.config), signed: undefined });
    page(res, 200, 'logout', { csrf: csrfToken(app.config, req, res, app.random) });
  });

  async function renderAccount(req: Request, res: Response, notice?: string) {
    const current = await currentSession(app, req);
    if (!current) return res.redirect(303, `/login?next=${encodeURIComponent(req.originalUrl)}`);
    const active = await sessions.listActiveForUser(app.sql, current.user.id);
    const views = await Promise.all(
      active.map(async (s) => ({
        id: s.id,
        device_id: s.device_id,
        created_at: s.created_at.toISOString().slice(0, 16).replace('T', ' '),
        client_name: (await provider.Client.find(s.client_id))?.clientName ?? s.client_id,
      })),
    );
    page(res, 200, 'account', {
      csrf: csrfToken(app.config, req, res, app.random),
      user: { mxid: mxid(current.user.username), display_name: current.user.display_name },
      sessions: views,
      focus: typeof req.query.device_id === 'string' ? req.query.device_id : undefined,
      notice,
    });
  }

  // `?action=org.matrix.*` (MSC4191) lands on the same page, focused on the device it names.
  router.get('/account/', (req, res) => renderAccount(req, res));
  router.get('/account', (_req, res) => res.redirect(301, '/account/'));

  router.post('/account/sessions/end', form, async (req, res) => {
    const current = await currentSession(app, req);
    if (!current) return res.redirect(303, '/login?next=/account/');
    const id = typeof req.body?.session_id === 'string' ? req.body.session_id : '';
    const session = (await sessions.listActiveForUser(app.sql, current.user.id)).find((s) => s.id === id);
    if (!session) return page(res, 404, 'error', { message: 'No such session.', code: 'not_found' });
    await endOAuthSession(provider, session.grant_id);
    await renderAccount(req, res, 'The session was signed out.');
  });

  return router;
}
