// `/account/deactivate` (MSC4191 `org.matrix.account_deactivate`), when
// `account.account_deactivation_allowed`: the user confirms who they are, may ask for their data
// to be erased, and the account is deactivated here and on the homeserver; every session ends.
import express, { type Request, type Response, type Router } from 'express';
import { deactivateAccount } from '../../accounts/deactivation.js';
import { SESSION_COOKIE, cookieOptions } from '../../web/browser.js';
import { csrfForm } from '../../web/forms.js';
import type { ViewDeps } from '../deps.js';
import { sectionAllowed, type AccountPages, type SignedIn } from './common.js';
import { msg, type Message } from '../../web/i18n.js';
import { reauthProblemMessage, reauthentication, type ReauthFailure } from './reauth.js';

export function deactivateRouter(deps: ViewDeps, pages: AccountPages): Router {
  const { app, renderer } = deps;
  const router = express.Router();
  const form = csrfForm(renderer);
  const reauth = reauthentication(deps);
  const PATH = '/account/deactivate';

  async function renderStart(req: Request, res: Response, current: SignedIn, status = 200, problems: { confirm?: Message; password?: ReauthFailure } = {}, erase = false) {
    const view = await reauth.view(current, PATH);
    const errors = { confirm: problems.confirm, password: problems.password && reauthProblemMessage(problems.password, view) };
    pages.render(req, res, status, 'account_deactivate', current, { reauth: view, errors, erase });
  }

  router.get(PATH, async (req, res) => {
    const current = await pages.signedIn(req, res);
    if (!current) return;
    if (!sectionAllowed(app.config, 'deactivation')) return pages.refuse(req, res, current, 'deactivation');
    await renderStart(req, res, current);
  });

  router.post(PATH, form, async (req, res) => {
    const current = await pages.signedIn(req, res, PATH);
    if (!current) return;
    if (!sectionAllowed(app.config, 'deactivation')) return pages.refuse(req, res, current, 'deactivation');
    const erase = req.body?.erase === 'on';
    if (req.body?.confirm !== 'on') return renderStart(req, res, current, 400, { confirm: msg('account_deactivate.confirm_missing') }, erase);
    const proof = await reauth.check(req, current);
    if (!proof.ok) {
      if (proof.problem === 'rate_limited') res.set('Retry-After', String(Math.ceil(proof.retryAfterMs / 1000)));
      return renderStart(req, res, current, proof.problem === 'rate_limited' ? 429 : proof.problem === 'unavailable' ? 503 : 400, { password: proof }, erase);
    }
    // The one deactivation path (accounts/deactivation.ts): locked and deactivated, every session
    // ended, addresses forgotten, `delete_user` queued, in one transaction.
    await deactivateAccount(app.sql, current.user.id, { erase, now: app.clock.now() });
    app.log.info({ user_id: current.user.id, erase }, 'account deactivated by its user');
    res.clearCookie(SESSION_COOKIE, { ...cookieOptions(app.config), signed: undefined });
    renderer.send(res, 200, 'account_deactivated', { erase });
  });

  return router;
}
