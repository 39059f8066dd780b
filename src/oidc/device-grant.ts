// The device authorization grant at the OAuth 2.0 endpoints (RFC 8628, wire-compatible with MAS):
// `POST /oauth2/device` hands out codes, and `grant_type=urn:ietf:params:oauth:grant-type:device_code`
// at the token endpoint exchanges an approved one for tokens.
//
// oidc-provider's own device flow is not used: its user codes and statuses are not MAS's, and
// it drops the Matrix device scope. Instead both requests run through oidc-provider's token
// endpoint, so the client is authenticated exactly as there (and only there is it implemented):
// a device authorization request is handed to it as a device_code grant request, marked on the
// request object (which no client can forge), and answered by the grant handler below. Tokens
// are oidc-provider's own models, saved through our adapter, so introspection, refresh,
// revocation and the session hooks (device upsert first) treat them as any other.
//
// Statuses are MAS's: a pending, rejected or expired code is 403 (`authorization_pending`,
// `access_denied`, `expired_token`), an unknown, foreign or used one 400 `invalid_grant`.
// MAS does not enforce the interval; Mauth answers a poll that comes too early `slow_down` with
// 403, like `authorization_pending`, of which RFC 8628 §3.5 makes it a variant.
import express, { type Request, type RequestHandler } from 'express';
import type { IncomingMessage } from 'node:http';
import { errors, type KoaContextWithOIDC, type TokenEndpointGrantContext } from 'oidc-provider';
import type { AppContext } from '../context.js';
import * as deviceCodes from '../storage/device-codes.js';
import { accountFinder } from './account.js';
import {
  DEVICE_CODE_GRANT,
  POLL_INTERVAL_SECONDS,
  deviceCodeHash,
  issueDeviceCode,
  reopenDeviceGrant,
} from './device-codes.js';
import type { OidcProvider } from './provider.js';

export { DEVICE_CODE_GRANT };

export const DEVICE_AUTHORIZATION_ROUTE = '/oauth2/device';
export const LINK_ROUTE = '/link';

/** Set on a request handed to the token endpoint as a device authorization; holds its real URL. */
const DEVICE_AUTHORIZATION = Symbol('mauth.device-authorization');
/** Set on a token request once it marked its device code exchanged: undone if no tokens leave. */
const EXCHANGED = Symbol('mauth.device-code-exchanged');
type Marked = IncomingMessage & { [DEVICE_AUTHORIZATION]?: string; [EXCHANGED]?: deviceCodes.DeviceGrant };

/**
 * A poll this much earlier than the interval still counts as on time: instances behind a load
 * balancer stamp polls with their own clocks, which may differ by a fraction of a second.
 */
const POLL_TOLERANCE_SECONDS = 1;

function status<E extends errors.OIDCProviderError>(err: E, code: number): E {
  Object.assign(err, { status: code, statusCode: code });
  return err;
}

/** Express, ahead of the provider: turns `POST /oauth2/device` into a token endpoint request. */
export function deviceAuthorizationRequest(app: AppContext): RequestHandler[] {
  const enabled = app.config.oauth.device_code_grant_enabled;
  const mark: RequestHandler = (req, res, next) => {
    if (!enabled) {
      res.status(400).set('Cache-Control', 'no-store').json({
        error: 'invalid_request',
        error_description: 'The Device Authorization Grant is disabled on this server',
      });
      return;
    }
    if (!req.is('application/x-www-form-urlencoded') || !req.body || typeof req.body !== 'object') {
      res.status(400).set('Cache-Control', 'no-store').json({ error: 'invalid_request', error_description: 'the body must be a form (application/x-www-form-urlencoded)' });
      return;
    }
    const body = req.body as Record<string, unknown>;
    delete body.device_code;
    body.grant_type = DEVICE_CODE_GRANT;
    (req as Request & Marked)[DEVICE_AUTHORIZATION] = req.url;
    req.url = '/oauth2/token';
    next();
  };
  return [express.urlencoded({ extended: false, limit: '64kb' }), mark];
}

/** `POST /oauth2/device` once the client is authenticated (RFC 8628 §3.1, §3.2). */
async function authorizeDevice(app: AppContext, ctx: TokenEndpointGrantContext): Promise<void> {
  const req = ctx.req as IncomingMessage & { ip?: string };
  const scope = typeof ctx.oidc.params.scope === 'string' ? ctx.oidc.params.scope : '';
  const issued = await issueDeviceCode(app, {
    clientId: ctx.oidc.client.clientId,
    scope,
    userAgent: ctx.get('user-agent') || undefined,
    ipAddress: req.ip ?? ctx.ip,
  });
  const link = new URL(LINK_ROUTE.slice(1), app.config.http.public_base);
  const complete = new URL(link);
  complete.searchParams.set('code', issued.userCode);
  ctx.status = 200;
  ctx.body = {
    device_code: issued.deviceCode,
    user_code: issued.userCode,
    verification_uri: link.href,
    ...(app.config.oauth.device_code_user_code_auto_fill_enabled ? { verification_uri_complete: complete.href } : {}),
    expires_in: issued.expiresIn,
    interval: POLL_INTERVAL_SECONDS,
  };
}

/** The token request of RFC 8628 §3.4, answered as MAS does (§3.5 for `slow_down`). */
async function exchangeDeviceCode(app: AppContext, provider: OidcProvider, ctx: TokenEndpointGrantContext): Promise<void> {
  const presented = ctx.oidc.params.device_code;
  if (typeof presented !== 'string' || !presented) throw new errors.InvalidRequest('missing required parameter device_code');
  const { client } = ctx.oidc;
  const found = await deviceCodes.findByDeviceCode(app.sql, deviceCodeHash(presented));
  if (!found || found.client_id !== client.clientId) throw new errors.InvalidGrant('device code not found');
  const now = app.clock.now();
  if (found.expires_at <= now) throw status(new errors.ExpiredToken('device code is expired'), 403);
  switch (found.state) {
    case 'pending': {
      const onTime = await deviceCodes.recordPoll(app.sql, found.id, now, POLL_INTERVAL_SECONDS - POLL_TOLERANCE_SECONDS);
      throw onTime ? status(new errors.AuthorizationPending(), 403) : status(new errors.SlowDown(), 403);
    }
    case 'rejected':
      throw status(new errors.AccessDenied('the user rejected the request'), 403);
    case 'exchanged':
      throw new errors.InvalidGrant('device code already used');
    case 'fulfilled':
      break;
  }
  const exchanged = await deviceCodes.exchange(app.sql, found.id, now);
  if (!exchanged?.grant_id || !exchanged.user_id) throw new errors.InvalidGrant('device code already used');
  (ctx.req as Marked)[EXCHANGED] = exchanged;
  // Gone when the user's sessions were ended after the approval.
  const grant = await provider.Grant.find(exchanged.grant_id);
  if (!grant || grant.clientId !== client.clientId || grant.accountId !== exchanged.user_id) {
    throw new errors.InvalidGrant('the approval was withdrawn');
  }
  const account = await accountFinder(app.sql)(ctx, exchanged.user_id);
  if (!account) throw new errors.InvalidGrant('the account cannot sign in');
  await issueTokens(provider, ctx, grant, account);
}

type Account = NonNullable<Awaited<ReturnType<ReturnType<typeof accountFinder>>>>;

/** The tokens of the code grant, from a grant the user consented to in the browser. */
async function issueTokens(
  provider: OidcProvider,
  ctx: TokenEndpointGrantContext,
  grant: InstanceType<OidcProvider['Grant']>,
  account: Account,
): Promise<void> {
  const { client } = ctx.oidc;
  const scope = grant.getOIDCScope();
  ctx.oidc.entity('Account', account);
  ctx.oidc.entity('Grant', grant);
  const grantId = grant.jti;
  const at = new provider.AccessToken({ client, accountId: account.accountId, grantId, gty: 'device_code', scope });
  ctx.oidc.entity('AccessToken', at);
  const accessToken = await at.save();

  let refreshToken: string | undefined;
  if (client.grantTypeAllowed('refresh_token')) {
    const rt = new provider.RefreshToken({ client, accountId: account.accountId, grantId, gty: 'device_code', scope, rotations: 0 });
    ctx.oidc.entity('RefreshToken', rt);
    refreshToken = await rt.save();
  }

  let idToken: string | undefined;
  if (scope.split(' ').includes('openid')) {
    const token = new provider.IdToken({ ...(await account.claims('id_token', scope, {}, [])) }, { ctx });
    (token as unknown as { scope: string }).scope = scope;
    idToken = await token.issue({ use: 'idtoken' });
  }

  ctx.body = {
    access_token: accessToken,
    expires_in: at.expiration,
    ...(idToken ? { id_token: idToken } : {}),
    ...(refreshToken ? { refresh_token: refreshToken } : {}),
    scope,
    token_type: 'Bearer',
  };
}

/**
 * What oidc-provider answers itself, said as MAS says it: a client whose metadata lacks the
 * grant is 401 `unauthorized_client` (oidc-provider: 400 `invalid_request`). Also gives a
 * device authorization request its own URL back before it is logged, and puts back a device
 * code whose exchange ended in a server error instead of tokens (the homeserver could not create
 * the device, the database failed): MAS rolls such an exchange back, and the device, which keeps
 * polling, gets its tokens once the failure is over instead of `invalid_grant`.
 */
function deviceAnswers(app: AppContext, provider: OidcProvider) {
  return async (ctx: KoaContextWithOIDC, next: () => Promise<void>): Promise<void> => {
    const req = ctx.req as Marked;
    const originalUrl = req[DEVICE_AUTHORIZATION];
    try {
      await next();
    } finally {
      if (originalUrl !== undefined) req.url = originalUrl;
    }
    const exchanged = req[EXCHANGED];
    if (exchanged && ctx.status >= 500) await reopen(app, provider, exchanged);
    if (ctx.oidc?.route !== 'token' || ctx.status !== 400) return;
    const deviceRequest = originalUrl !== undefined || ctx.oidc.params?.grant_type === DEVICE_CODE_GRANT;
    const client = ctx.oidc.client;
    if (deviceRequest && client && !client.grantTypeAllowed(DEVICE_CODE_GRANT)) {
      ctx.status = 401;
      ctx.body = { error: 'unauthorized_client', error_description: 'the client is not allowed to use the device authorization grant' };
    }
  };
}

async function reopen(app: AppContext, provider: OidcProvider, exchanged: deviceCodes.DeviceGrant): Promise<void> {
  try {
    const reopened = await reopenDeviceGrant(app, provider, exchanged);
    app.log.info({ client_id: exchanged.client_id, reopened }, 'device code exchange answered an error; the code stays approved');
  } catch (err) {
    app.log.warn({ err, client_id: exchanged.client_id }, 'device code exchange answered an error and could not be undone');
  }
}

/** Registers the grant with the provider (only while `oauth.device_code_grant_enabled`). */
export function installDeviceGrant(provider: OidcProvider, app: AppContext): void {
  provider.registerGrantType(
    DEVICE_CODE_GRANT,
    (ctx) => ((ctx.req as Marked)[DEVICE_AUTHORIZATION] !== undefined ? authorizeDevice(app, ctx) : exchangeDeviceCode(app, provider, ctx)),
    ['device_code', 'scope'],
  );
  provider.use(deviceAnswers(app, provider));
}

/** Errors of the grant that are the normal course of polling, not worth a log line each. */
export function isPollingAnswer(error: string | undefined): boolean {
  return error === 'authorization_pending' || error === 'slow_down';
}
