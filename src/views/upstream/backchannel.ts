// Back-channel logout (OpenID Connect Back-Channel Logout 1.0): the provider, not a browser, POSTs
// a logout token to `/upstream/backchannel-logout/{id}`; `on_backchannel_logout` says what ends.
// Answers are bare OAuth-style JSON errors, never pages.
import express, { type Router } from 'express';
import { endCompatSessions } from '../../compat/sessions.js';
import type { AppContext } from '../../context.js';
import { endAllOAuthSessionsOfUser } from '../../oidc/sessions.js';
import * as browserSessions from '../../storage/browser-sessions.js';
import * as compat from '../../storage/compat.js';
import * as upstream from '../../storage/upstream.js';
import { InvalidLogoutToken, validateLogoutToken } from '../../upstream/backchannel.js';
import type { UpstreamClientProvider } from '../../upstream/stored-provider.js';
import { isUnavailable } from '../../upstream/unavailable.js';
import type { ViewDeps } from '../deps.js';
import { RouteError } from '../../web/errors.js';
import { loadProvider } from './provider.js';

/**
 * Ends the browser sessions the upstream sessions signed in; with `all`, every OAuth 2.0 and
 * compatibility session of those users too (Mauth does not record which browser session started
 * which client session, so it ends them all rather than leave one running).
 */
async function endSessions({ app, provider }: Pick<ViewDeps, 'app' | 'provider'>, sessions: (upstream.SessionRow & { user_id: string })[], all: boolean) {
  for (const s of sessions) if (s.browser_session_id) await browserSessions.finish(app.sql, s.browser_session_id);
  if (!all) return;
  for (const userId of new Set(sessions.map((s) => s.user_id))) {
    for (const id of await upstream.activeBrowserSessionIdsOfUser(app.sql, userId)) await browserSessions.finish(app.sql, id);
    await endAllOAuthSessionsOfUser(app.sql, provider, userId);
    await endCompatSessions(app, (tx) => compat.finishAllForUser(tx, userId));
  }
}

async function providerOrStatus(app: AppContext, id: string): Promise<UpstreamClientProvider | { status: number; message: string }> {
  try {
    return await loadProvider(app, id);
  } catch (err) {
    if (err instanceof RouteError) return { status: err.status === 404 ? 404 : 400, message: err.message };
    throw err;
  }
}

export function backchannelRouter(deps: Pick<ViewDeps, 'app' | 'provider'>): Router {
  const { app } = deps;
  const { log } = app;
  const router = express.Router();
  const form = express.urlencoded({ extended: false, limit: '64kb' });

  router.post('/upstream/backchannel-logout/:id', form, async (req, res, next) => {
    const answer = (status: number, error?: string) => {
      res.status(status).set('Cache-Control', 'no-store');
      if (error) res.json({ error: 'invalid_request', error_description: error });
      else res.end();
    };
    try {
      const provider = await providerOrStatus(app, String(req.params.id));
      if ('status' in provider) return answer(provider.status, provider.message);
      const token = typeof req.body?.logout_token === 'string' ? req.body.logout_token : '';
      if (!token) return answer(400, 'logout_token is missing');
      let claims;
      try {
        claims = await validateLogoutToken(app, provider, token);
      } catch (err) {
        if (err instanceof InvalidLogoutToken) {
          log.warn({ upstream_provider_id: provider.id, problem: err.message }, 'back-channel logout refused');
          return answer(400, err.message);
        }
        if (isUnavailable(err)) return answer(502, 'the provider keys cannot be fetched');
        throw err;
      }
      if (!(await upstream.rememberLogoutToken(app.sql, provider.id, claims.jti))) {
        log.warn({ upstream_provider_id: provider.id }, 'back-channel logout token replayed');
        return answer(400, 'this logout token was already used');
      }
      const mode = provider.config.on_backchannel_logout ?? 'do_nothing';
      const sessions = await upstream.sessionsForLogout(app.sql, provider.id, { subject: claims.sub, sid: claims.sid });
      log.info({ upstream_provider_id: provider.id, mode, matched_sessions: sessions.length }, 'back-channel logout received');
      if (mode !== 'do_nothing') await endSessions(deps, sessions, mode === 'logout_all');
      answer(200);
    } catch (err) {
      next(err);
    }
  });

  return router;
}
