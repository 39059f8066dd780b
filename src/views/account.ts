// The account management pages (the discovery's account_management_uri, see account/), sign-in
// outside an authorization request, and sign-out.
import { matrixUserId } from '../domain/usernames.js';
import express, { type Request, type Response, type Router } from 'express';
import type { ViewDeps } from './deps.js';
import { accountPages } from './account/common.js';
import { crossSigningRouter } from './account/cross-signing.js';
import { deactivateRouter } from './account/deactivate.js';
import { homeRouter } from './account/home.js';
import { passwordRouter } from './account/password.js';
import { sessionsRouter } from './account/sessions.js';
import * as browserSessions from '../storage/browser-sessions.js';
import { SESSION_COOKIE, cookieOptions, csrfToken, currentSession, startSession, safeNext } from '../web/browser.js';
import { loginErrorMessage, loginErrorStatus } from './login.js';
import { authenticatePassword } from '../accounts/authenticate.js';
import { loginButtons } from '../upstream/providers.js';
import { csrfForm } from '../web/forms.js';
import { msg, type Message } from '../web/i18n.js';

export function accountRouter(deps: ViewDeps): Router {
  const { app, renderer, hasher, limiter, directory } = deps;
  const router = express.Router();
  const form = csrfForm(renderer);
  const page = renderer.send;
  const mxid = (username: string) => matrixUserId(username, app.config.matrix.homeserver);

  const renderLogin = (req: Request, res: Response, status: number, next: string, error?: Message | string, username = '') =>
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
    if (!username || !password) return renderLogin(req, res, 400, next, msg('errors.login.missing'), username);
    const outcome = await authenticatePassword(app, { hasher, limiter, directory }, { kind: 'user', name: username }, password, req.ip);
    if (!outcome.ok) return renderLogin(req, res, loginErrorStatus(outcome, res), next, loginErrorMessage(outcome), username);
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

  // The account pages: /account/ (and MSC4191 deep links), profile, sessions, password,
  // cross-signing reset, deactivation. E-mail addresses are account-emails.ts.
  const pages = accountPages(deps);
  router.use(homeRouter(deps, pages));
  router.use(sessionsRouter(deps, pages));
  router.use(passwordRouter(deps, pages));
  router.use(crossSigningRouter(deps, pages));
  router.use(deactivateRouter(deps, pages));

  return router;
}
