// `/upstream/link/{session}`: after the callback, who the browser becomes (decideLinkStep). A
// linked subject signs its user in; a signed-in browser may link its account (POST action=link);
// anyone else registers (register.ts). Then the browser continues to the `next` path it came with.
import express, { type Router } from 'express';
import { matrixUserId } from '../../domain/usernames.js';
import * as upstream from '../../storage/upstream.js';
import * as users from '../../storage/users.js';
import { decideLinkStep } from '../../upstream/link.js';
import { displayName } from '../../upstream/providers.js';
import { csrfToken, currentSession } from '../../web/browser.js';
import type { ViewDeps } from '../deps.js';
import { showRegistration, submitRegistration } from './register.js';
import { accountName, loadLinkState, requireActive } from './session.js';
import { linkCurrentUser, signIn } from './sign-in.js';
import { asPage, routeHandler } from '../../web/errors.js';
import { csrfForm } from '../../web/forms.js';
import { msg } from '../../web/i18n.js';

export function linkRouter(deps: Pick<ViewDeps, 'app' | 'renderer'>): Router {
  const { app, renderer } = deps;
  const { config } = app;
  const router = express.Router();
  const form = csrfForm(renderer);
  const page = renderer.send;
  const mxid = (username: string) => matrixUserId(username, config.matrix.homeserver);

  router.get(
    '/upstream/link/:session',
    routeHandler(asPage(renderer), async (req, res) => {
      const state = await loadLinkState(app, req);
      const link = await upstream.findLink(app.sql, state.provider.id, state.session.subject!);
      const current = await currentSession(app, req);
      const decision = decideLinkStep({ linkedUserId: link?.user_id, currentUserId: current?.user.id });
      switch (decision.kind) {
        case 'sign-in':
          if (decision.browserSession === 'current') return signIn(app, req, res, state, link!, current!.user, current);
          return signIn(app, req, res, state, link!, requireActive(config, await users.findById(app.sql, decision.userId)));
        case 'mismatch': {
          const linked = await users.findById(app.sql, decision.linkedUserId);
          return page(res, 409, 'upstream_link', {
            mismatch: true,
            provider: { name: displayName(state.provider.config) },
            account_name: accountName(app, state),
            user: { mxid: mxid(current!.user.username) },
            linked: linked ? { mxid: mxid(linked.username) } : undefined,
            csrf: csrfToken(config, req, res),
          });
        }
        case 'offer-link':
          return page(res, 200, 'upstream_link', {
            action: `/upstream/link/${state.session.id}`,
            csrf: csrfToken(config, req, res),
            provider: { name: displayName(state.provider.config) },
            account_name: accountName(app, state),
            user: { mxid: mxid(current!.user.username) },
          });
        case 'register':
          return showRegistration(deps, req, res, state);
      }
    }),
  );

  router.post(
    '/upstream/link/:session',
    form,
    routeHandler(asPage(renderer), async (req, res) => {
      const state = await loadLinkState(app, req);
      const body = (req.body ?? {}) as Record<string, unknown>;
      const link = await upstream.findLink(app.sql, state.provider.id, state.session.subject!);
      const current = await currentSession(app, req);
      // Linked meanwhile (another tab): the GET handles every linked case.
      if (link) return res.redirect(303, `/upstream/link/${state.session.id}`);
      if (body.action === 'link') {
        if (!current) return res.redirect(303, `/upstream/link/${state.session.id}`);
        return linkCurrentUser(app, res, state, current);
      }
      if (body.action !== 'register' || current) {
        return page(res, 400, 'error', { message: msg('errors.upstream.form_unusable'), code: 'invalid_form_action' });
      }
      await submitRegistration(deps, req, res, state, body);
    }),
  );

  return router;
}
