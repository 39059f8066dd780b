// `GET /upstream/authorize/{id}?next=…`: sends the browser to the provider. State, nonce and PKCE
// verifier go into the state cookie, the state's hash into the database.
import express, { type Router } from 'express';
import { hashSecret } from '../../domain/tokens.js';
import * as upstream from '../../storage/upstream.js';
import { startAuthorization } from '../../upstream/client.js';
import { isUnavailable } from '../../upstream/unavailable.js';
import { safeNext } from '../../web/browser.js';
import type { ViewDeps } from '../deps.js';
import { asPage, routeHandler } from '../../web/errors.js';
import { misconfigured, upstreamFailure } from './errors.js';
import { loadProvider } from './provider.js';
import { readPending, writePending, type Pending } from './state.js';

export function authorizeRouter({ app, renderer }: Pick<ViewDeps, 'app' | 'renderer'>): Router {
  const router = express.Router();
  router.get(
    '/upstream/authorize/:id',
    routeHandler(asPage(renderer), async (req, res) => {
      const provider = await loadProvider(app, String(req.params.id));
      const next = safeNext(req.query.next);
      let start;
      try {
        start = await startAuthorization(app, provider);
      } catch (err) {
        if (isUnavailable(err)) throw upstreamFailure(app.log, err, provider.id, 'authorize');
        app.log.error({ err, upstream_provider_id: provider.id }, 'cannot start an upstream authorization (check the provider configuration)');
        throw misconfigured();
      }
      const session = await upstream.createSession(app.sql, { providerId: provider.id, stateHash: hashSecret(start.state), nextPath: next, now: app.clock.now() });
      const entry: Pending = { s: session.id, p: provider.id, st: start.state, ...(start.nonce ? { n: start.nonce } : {}), ...(start.codeVerifier ? { v: start.codeVerifier } : {}) };
      writePending(app.config, res, [...readPending(req), entry]);
      res.redirect(303, start.url.href);
    }),
  );
  return router;
}
