// `/account/cross-signing` (MSC4191 `org.matrix.cross_signing_reset`): a user who lost their
// recovery key confirms who they are here, and the homeserver then lets them replace their
// cross-signing keys without the usual interactive authentication, for a short while; the page
// sends them back to their client to do it. The call is made while the user waits: the page
// must only say "go ahead" once the homeserver agreed.
import express, { type Request, type Response, type Router } from 'express';
import { csrfForm } from '../../web/forms.js';
import type { ViewDeps } from '../deps.js';
import type { AccountPages, SignedIn } from './common.js';
import { reauthProblemMessage, reauthentication, type ReauthFailure } from './reauth.js';

/** How long Synapse lets the keys be replaced after `allow_cross_signing_reset` (its own constant). */
export const CROSS_SIGNING_RESET_MINUTES = 10;

export function crossSigningRouter(deps: ViewDeps, pages: AccountPages): Router {
  const { app, renderer } = deps;
  const router = express.Router();
  const form = csrfForm(renderer);
  const reauth = reauthentication(deps);
  const PATH = '/account/cross-signing';

  async function renderStart(req: Request, res: Response, current: SignedIn, status = 200, failure?: ReauthFailure) {
    const view = await reauth.view(current, PATH);
    pages.render(req, res, status, 'account_cross_signing', current, { reauth: view, errors: { password: failure && reauthProblemMessage(failure, view) } });
  }

  router.get(PATH, async (req, res) => {
    const current = await pages.signedIn(req, res);
    if (current) await renderStart(req, res, current);
  });

  router.post(PATH, form, async (req, res) => {
    const current = await pages.signedIn(req, res, PATH);
    if (!current) return;
    const proof = await reauth.check(req, current);
    if (!proof.ok) {
      if (proof.problem === 'rate_limited') res.set('Retry-After', String(Math.ceil(proof.retryAfterMs / 1000)));
      return renderStart(req, res, current, proof.problem === 'rate_limited' ? 429 : proof.problem === 'unavailable' ? 503 : 400, proof);
    }
    // A homeserver that cannot be reached answers 503 (http/unavailable.ts): nothing was allowed.
    await app.homeserver.allowCrossSigningReset(current.user.username);
    app.log.info({ user_id: current.user.id }, 'cross-signing reset allowed on the homeserver');
    pages.render(req, res, 200, 'account_cross_signing_done', current, { minutes: CROSS_SIGNING_RESET_MINUTES });
  });

  return router;
}
