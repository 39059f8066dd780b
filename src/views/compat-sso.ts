// The browser half of `m.login.sso`: the signed-in user confirms which app gets a login token.
// The page names the host the token will be sent to, so a phishing link that would hand a
// login token to a stranger's site shows that site's name before anything is sent.
import { matrixUserId } from '../domain/usernames.js';
import express, { type Request, type Response, type Router } from 'express';
import type { AppContext } from '../context.js';
import { hashSecret } from '../domain/tokens.js';
import { csrfToken, currentSession } from '../web/browser.js';
import * as compat from '../storage/compat.js';
import type { Renderer } from '../web/render.js';
import { csrfForm } from '../web/forms.js';
import { evaluateCompatLogin } from '../policy/compat-login.js';
import { currentPolicyData } from '../policy/dynamic-data.js';
import { requesterOf } from '../policy/requester.js';
import { countSessions } from '../policy/session-limit.js';
import type { User } from '../storage/users.js';
import { policyStop, sendPolicyStop } from './policy-violation.js';
import { msg } from '../web/i18n.js';

export function compatSsoRouter({ app, renderer }: { app: AppContext; renderer: Renderer }): Router {
  const router = express.Router();
  const form = csrfForm(renderer);
  const page = renderer.send;
  const unusable = (res: Response) =>
    page(res, 400, 'error', {
      title: msg('errors.compat_sso.unusable_title'),
      message: msg('errors.compat_sso.unusable'),
      code: 'invalid_sso_login',
    });

  /**
   * The compat login policy for this interactive half of `m.login.sso` (MAS's): a banned requester,
   * or the soft session limit, stops here with a page (403), before any token is handed out.
   */
  async function stopped(req: Request, res: Response, user: User, loginId: string): Promise<boolean> {
    const data = await currentPolicyData(app);
    const sessionCounts = await countSessions(app.sql, user.id, data);
    const stop = policyStop(evaluateCompatLogin({ login: 'm.login.sso', sessionReplaced: false, sessionCounts, requester: requesterOf(req) }, data));
    if (!stop) return false;
    const mxid = matrixUserId(user.username, app.config.matrix.homeserver);
    sendPolicyStop(renderer, res, 403, stop, { user: { mxid }, retryUrl: `/complete-compat-sso/${encodeURIComponent(loginId)}` });
    return true;
  }

  router.get('/complete-compat-sso/:id', async (req, res) => {
    const login = await compat.findSsoLogin(app.sql, String(req.params.id));
    if (!login || login.fulfilled_at || app.clock.now().getTime() - login.created_at.getTime() > 3600_000) return unusable(res);
    const current = await currentSession(app, req);
    if (!current) return res.redirect(303, `/login?next=${encodeURIComponent(`/complete-compat-sso/${login.id}`)}`);
    if (await stopped(req, res, current.user, login.id)) return;
    const target = new URL(login.redirect_uri);
    page(res, 200, 'compat_sso', {
      action: `/complete-compat-sso/${login.id}`,
      csrf: csrfToken(app.config, req, res, app.random),
      user: { mxid: matrixUserId(current.user.username, app.config.matrix.homeserver) },
      host: target.host,
      insecure: target.protocol === 'http:',
    });
  });

  router.post('/complete-compat-sso/:id', form, async (req, res) => {
    const current = await currentSession(app, req);
    if (!current) return res.redirect(303, `/login?next=${encodeURIComponent(`/complete-compat-sso/${String(req.params.id)}`)}`);
    if (req.body?.decision !== 'continue') {
      return page(res, 200, 'error', { title: msg('errors.compat_sso.cancelled_title'), message: msg('errors.compat_sso.cancelled'), code: 'cancelled' });
    }
    if (await stopped(req, res, current.user, String(req.params.id))) return;
    const token = app.random.bytes(24).toString('base64url');
    const login = await compat.fulfilSsoLogin(app.sql, String(req.params.id), current.user.id, hashSecret(token), app.clock.now());
    if (!login) return unusable(res);
    const target = new URL(login.redirect_uri);
    target.searchParams.set('loginToken', token);
    res.set('Referrer-Policy', 'no-referrer').redirect(303, target.href);
  });

  return router;
}
