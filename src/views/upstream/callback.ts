// `/upstream/callback/{id}` (GET, or POST for response_mode form_post): the provider's answer. One
// use per state; the code exchange validates the ID token; the subject is rendered and recorded,
// and the browser goes on to the link step.
import express, { type Request, type Response, type Router } from 'express';
import { claimsContext } from '../../domain/claims-template/index.js';
import { hashSecret } from '../../domain/tokens.js';
import * as upstream from '../../storage/upstream.js';
import { renderSubject } from '../../upstream/claims.js';
import { completeAuthorization } from '../../upstream/client.js';
import type { ViewDeps } from '../deps.js';
import { RouteError, asPage, routeHandler } from '../../web/errors.js';
import { msg } from '../../web/i18n.js';
import { upstreamFailure } from './errors.js';
import { claimsImports, loadProvider } from './provider.js';
import { readPending, writePending } from './state.js';

export function callbackRouter({ app, renderer }: Pick<ViewDeps, 'app' | 'renderer'>): Router {
  const { config, log } = app;
  const router = express.Router();
  const form = express.urlencoded({ extended: false, limit: '64kb' });

  const callback = routeHandler(asPage(renderer), async (req: Request, res: Response) => {
    const provider = await loadProvider(app, String(req.params.id));
    const params: Record<string, string> = {};
    const source = req.method === 'POST' ? (req.body as Record<string, unknown>) : (req.query as Record<string, unknown>);
    for (const [key, value] of Object.entries(source ?? {})) if (typeof value === 'string') params[key] = value;
    const pending = readPending(req);
    const entry = pending.find((e) => e.p === provider.id && typeof params.state === 'string' && e.st === params.state);
    if (!entry) {
      throw new RouteError(400, 'invalid_state', msg('errors.upstream.invalid_state'), { title: msg('errors.upstream.cannot_complete_title') });
    }
    const session = await upstream.completeSession(app.sql, entry.s, hashSecret(entry.st), app.clock.now());
    if (!session) {
      throw new RouteError(400, 'upstream_session_used', msg('errors.upstream.answer_used'), { title: msg('errors.upstream.cannot_complete_title') });
    }
    if (params.error) {
      log.info({ upstream_provider_id: provider.id, oauth_error: params.error, oauth_error_description: params.error_description }, 'upstream provider returned an error');
      writePending(config, res, pending.filter((e) => e !== entry));
      throw new RouteError(400, 'upstream_error', params.error === 'access_denied' ? msg('errors.upstream.denied') : msg('errors.upstream.denied_error', { error: params.error }), { title: msg('errors.upstream.cancelled_title') });
    }
    let outcome;
    try {
      outcome = await completeAuthorization(app, provider, params, { state: entry.st, nonce: entry.n, codeVerifier: entry.v });
    } catch (err) {
      throw upstreamFailure(log, err, provider.id, 'callback');
    }
    const context = claimsContext({ idTokenClaims: outcome.idTokenClaims, userinfoClaims: outcome.userinfoClaims, extraCallbackParameters: outcome.extraCallbackParameters });
    const subject = renderSubject(claimsImports(provider), context);
    if (!subject.ok) {
      log.error({ upstream_provider_id: provider.id, problem: subject.error.message }, 'claims_imports.subject cannot be rendered');
      throw new RouteError(400, 'subject_unavailable', msg('errors.upstream.no_subject'), { title: msg('errors.upstream.failed_title') });
    }
    const sid = outcome.idTokenClaims?.sid;
    await upstream.recordCallback(app.sql, session.id, {
      subject: subject.value!,
      upstreamSid: typeof sid === 'string' ? sid : undefined,
      idTokenClaims: outcome.idTokenClaims,
      userinfoClaims: outcome.userinfoClaims,
      extraCallbackParameters: outcome.extraCallbackParameters,
    });
    // The nonce and verifier are spent; the entry now only proves this browser started the session.
    writePending(config, res, pending.map((e) => (e === entry ? { s: e.s, p: e.p, st: e.st } : e)));
    res.redirect(303, `/upstream/link/${session.id}`);
  });

  router.get('/upstream/callback/:id', callback);
  router.post('/upstream/callback/:id', form, callback);
  return router;
}
