// The client_credentials grant, for static confidential clients (and registered clients that
// asked for it): a token without a user, as MAS issues it to scripts and admin tools. Which
// scopes such a token may carry is the authorization grant policy's call: `urn:mas:admin` only
// for the clients in `policy.data.admin_clients`, and nothing that needs a user (the Matrix API,
// a device, Synapse's admin API); and nothing for a banned requester.
//
// oidc-provider offers no hook between reading the request and saving the token, so the policy
// runs right after: a refused token is destroyed before its response leaves, and the client gets
// `invalid_scope` instead. Like the other token hooks this runs outside oidc-provider's error
// handling and answers its own failures.
import type { IncomingMessage } from 'node:http';
import type { KoaContextWithOIDC } from 'oidc-provider';
import type { AppContext } from '../context.js';
import { parseScope } from '../domain/scopes.js';
import { evaluateGrant } from '../policy/authorization-grant.js';
import { currentPolicyData } from '../policy/dynamic-data.js';
import { requesterOf } from '../policy/requester.js';
import { databaseUnavailable, RETRY_AFTER_SECONDS } from '../storage/db-errors.js';

type Next = () => Promise<void>;

export const CLIENT_CREDENTIALS = 'client_credentials';

/**
 * The grant types of a static client: the authorization code (and refresh) for those with redirect
 * URIs, client_credentials for those that can authenticate.
 */
export function staticClientGrantTypes(client: { client_auth_method: string; redirect_uris: string[] }): string[] {
  const interactive = client.redirect_uris.length > 0 ? ['authorization_code', 'refresh_token'] : [];
  return client.client_auth_method === 'none' ? interactive : [...interactive, CLIENT_CREDENTIALS];
}

function answer(ctx: KoaContextWithOIDC, status: number, error: string, description: string): void {
  ctx.status = status;
  ctx.set('Cache-Control', 'no-store');
  if (status === 503) ctx.set('Retry-After', String(RETRY_AFTER_SECONDS));
  ctx.body = { error, error_description: description };
}

export function clientCredentialsPolicy(app: AppContext) {
  return async function checkClientCredentials(ctx: KoaContextWithOIDC, next: Next): Promise<void> {
    await next();
    if (ctx.oidc?.route !== 'token' || ctx.status !== 200) return;
    const token = ctx.oidc.entities.ClientCredentials;
    if (!token) return;
    try {
      const violations = evaluateGrant(
        {
          scopes: parseScope(token.scope),
          grantType: CLIENT_CREDENTIALS,
          client: { id: token.clientId ?? '' },
          // Express's request (behind http.trusted_proxies), as the device grant reads it.
          requester: requesterOf(ctx.req as IncomingMessage & { ip?: string }),
        },
        await currentPolicyData(app),
      );
      if (violations.length === 0) return;
      await token.destroy();
      app.log.info({ client_id: token.clientId, violations: violations.map((v) => v.msg) }, 'client_credentials grant refused by policy');
      answer(ctx, 400, 'invalid_scope', violations.map((v) => v.msg).join('; '));
    } catch (err) {
      await Promise.resolve(token.destroy()).catch(() => {});
      const reason = databaseUnavailable(err);
      if (reason) {
        app.log.warn({ reason, path: ctx.path }, 'database unavailable: answered 503');
        answer(ctx, 503, 'temporarily_unavailable', 'The service is temporarily unavailable; try again shortly.');
      } else {
        app.log.error({ err, path: ctx.path }, 'client_credentials policy check failed');
        answer(ctx, 500, 'server_error', 'An unexpected error occurred.');
      }
    }
  };
}
