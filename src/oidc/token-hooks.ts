// Runs after oidc-provider issued tokens and before the response leaves: the first token of a
// grant starts its OAuth 2.0 session, and its device must exist on the homeserver before the
// client can use the token (Synapse rejects tokens for unknown devices).
//
// This is middleware around oidc-provider, outside its error handling: a failure here is
// answered here, as the token endpoint answers (OAuth JSON), and never with the tokens.
import type { KoaContextWithOIDC } from 'oidc-provider';
import type { AppContext } from '../context.js';
import { deviceOf, parseScope } from '../domain/scopes.js';
import * as sessions from '../storage/oauth2-sessions.js';
import * as users from '../storage/users.js';
import { HomeserverError } from '../homeserver/index.js';
import { provisionUser } from '../jobs/homeserver-jobs.js';
import { RETRY_AFTER_SECONDS } from '../storage/db-errors.js';
import { answerTokenStepFailure } from './errors.js';
import { clientSeen, sessionRecordedByRefresh } from './refresh.js';

type Next = () => Promise<void>;

function answer(ctx: KoaContextWithOIDC, status: number, error: string, description: string): void {
  ctx.status = status;
  ctx.set('Cache-Control', 'no-store');
  if (status === 503) ctx.set('Retry-After', String(RETRY_AFTER_SECONDS));
  ctx.body = { error, error_description: description };
}

async function startSession(app: AppContext, ctx: KoaContextWithOIDC): Promise<void> {
  const token = ctx.oidc.entities.AccessToken;
  const grant = ctx.oidc.entities.Grant;
  if (!token?.grantId || !token.accountId || !grant) return;
  // oidc-provider keeps only the scopes it knows in advance on the token; the grant has all of
  // them, the device scope included, and that is what the client was given.
  const scope = grant.getOIDCScope();
  if (ctx.body && typeof ctx.body === 'object') (ctx.body as { scope?: string }).scope = scope;

  // A refresh of a running session recorded the client in its own transaction (refresh.ts).
  if (sessionRecordedByRefresh(ctx)) return;
  // The client itself asks for tokens (introspection is the homeserver asking): its address, as
  // Express worked it out behind `http.trusted_proxies`, and its User-Agent.
  const seen = clientSeen(ctx);
  const { session, created } = await sessions.start(
    app.sql,
    { grantId: token.grantId, userId: token.accountId, clientId: token.clientId ?? '', deviceId: deviceOf(parseScope(scope)) ?? null, scope, seen },
    app.clock.now(),
  );
  if (!created || !session.device_id) return;

  const user = await users.findById(app.sql, token.accountId);
  if (!user) return;
  try {
    try {
      await app.homeserver.upsertDevice(user.username, session.device_id, ctx.oidc.client?.clientName);
    } catch (err) {
      // The provisioning job has not reached the homeserver yet: do its work now, then retry.
      if (!(err instanceof HomeserverError) || err.status !== 404) throw err;
      await provisionUser(app.sql, app.homeserver, user);
      await app.homeserver.upsertDevice(user.username, session.device_id, ctx.oidc.client?.clientName);
    }
  } catch (err) {
    app.log.error({ err, grantId: token.grantId }, 'could not create the device on the homeserver');
    // The tokens are useless without the device: end the session and report a retryable error.
    await ctx.oidc.provider.Grant.adapter.destroy(token.grantId);
    answer(ctx, 503, 'temporarily_unavailable', 'the homeserver could not be reached; try again');
  }
}

export function tokenEndpointHooks(app: AppContext) {
  return async function afterTokenIssued(ctx: KoaContextWithOIDC, next: Next): Promise<void> {
    await next();
    if (ctx.oidc?.route !== 'token' || ctx.status !== 200) return;
    try {
      await startSession(app, ctx);
    } catch (err) {
      answerTokenStepFailure(app, ctx, err, 'token endpoint failed after issuing tokens');
    }
  };
}
