// Token introspection (RFC 7662) as Synapse uses it: authenticated by the shared
// `matrix.secret` as a bearer token, or by a confidential client from `clients`
// (client_secret_basic/post, client_secret_jwt, private_key_jwt). Answers with Matrix's fields:
// `username`, `device_id` when X-MAS-Supports-Device-Id is sent, both forms of every scope.
import { timingSafeEqual } from 'node:crypto';
import { createLocalJWKSet, createRemoteJWKSet, jwtVerify, type JSONWebKeySet } from 'jose';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AppContext } from '../context.js';
import type { StaticClient } from '../config/types.js';
import { API_SCOPE, DEVICE_SCOPE_PREFIX, SYNAPSE_ADMIN_SCOPE, deviceOf, isValidCompatDeviceId, parseScope, withBothForms } from '../domain/scopes.js';
import * as compat from '../storage/compat.js';
import { hashSecret, tokenKind } from '../domain/tokens.js';
import { findForIntrospection, markAccessTokenUsed } from '../storage/oidc-payloads.js';
import { databaseUnavailable, RETRY_AFTER_SECONDS } from '../storage/db-errors.js';
import { ROUTES } from './provider.js';
import { SessionActivity } from './session-activity.js';
import { resolvePersonalToken } from './introspection-personal.js';
import { IntrospectionCache, renderActive, type ActiveToken } from './introspection-cache.js';

const CLIENT_ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

function safeEqual(a: string, b: string): boolean {
  const ab = Buffer.from(a);
  const bb = Buffer.from(b);
  return ab.length === bb.length && timingSafeEqual(ab, bb);
}

export interface IntrospectionRequest {
  authorization: string | undefined;
  /** Synapse sends `X-MAS-Supports-Device-Id: 1` when it reads `device_id` from the answer. */
  supportsDeviceId: boolean;
  body: Record<string, string>;
}

export interface IntrospectionAnswer {
  status: number;
  body: Record<string, unknown>;
  headers?: Record<string, string>;
}

const INACTIVE: IntrospectionAnswer = { status: 200, body: { active: false } };

function oauthError(status: number, error: string, description: string): IntrospectionAnswer {
  return {
    status,
    body: { error, error_description: description },
    headers: status === 401 ? { 'WWW-Authenticate': 'Bearer error="invalid_client"' } : undefined,
  };
}

/**
 * Introspection without any HTTP framework: it is Synapse's hot path. Every active answer counts
 * as a use of its session, collected by `activity` (written in batches). With `cache`, active
 * answers of access tokens are kept in memory until something invalidates them.
 */
export function createIntrospector(app: AppContext, activity?: SessionActivity, cache?: IntrospectionCache) {
  const { config, sql, clock } = app;
  const secret = config.matrix.secret;
  const clients = new Map(config.clients.map((c) => [c.client_id, c]));
  const audiences = new Set([
    config.http.issuer,
    new URL(ROUTES.introspection.slice(1), config.http.public_base).href,
    new URL(ROUTES.token.slice(1), config.http.public_base).href,
  ]);
  const remoteJwks = new Map<string, ReturnType<typeof createRemoteJWKSet>>();

  async function authenticateClient(authorization: string | undefined, body: Record<string, string>): Promise<boolean> {
    const authz = authorization ?? '';
    if (authz.startsWith('Bearer ')) return safeEqual(authz.slice(7).trim(), secret);

    let client: StaticClient | undefined;
    if (authz.startsWith('Basic ')) {
      const decoded = Buffer.from(authz.slice(6), 'base64').toString();
      const sep = decoded.indexOf(':');
      if (sep < 0) return false;
      let id: string;
      let pass: string;
      try {
        id = decodeURIComponent(decoded.slice(0, sep));
        pass = decodeURIComponent(decoded.slice(sep + 1));
      } catch {
        return false;
      }
      client = clients.get(id);
      return client?.client_auth_method === 'client_secret_basic' && !!client.client_secret && safeEqual(pass, client.client_secret);
    }
    if (body.client_assertion_type === CLIENT_ASSERTION_TYPE && typeof body.client_assertion === 'string') {
      return verifyAssertion(body.client_assertion, typeof body.client_id === 'string' ? body.client_id : undefined);
    }
    if (typeof body.client_id === 'string' && typeof body.client_secret === 'string') {
      client = clients.get(body.client_id);
      return client?.client_auth_method === 'client_secret_post' && !!client.client_secret && safeEqual(body.client_secret, client.client_secret);
    }
    return false;
  }

  async function verifyAssertion(assertion: string, claimedId: string | undefined): Promise<boolean> {
    try {
      const [, payloadPart] = assertion.split('.');
      const unverified = JSON.parse(Buffer.from(payloadPart ?? '', 'base64url').toString()) as { iss?: string };
      const client = unverified.iss ? clients.get(unverified.iss) : undefined;
      if (!client || (claimedId && claimedId !== client.client_id)) return false;
      const options = { issuer: client.client_id, subject: client.client_id, audience: [...audiences], requiredClaims: ['exp'] };
      if (client.client_auth_method === 'client_secret_jwt' && client.client_secret) {
        await jwtVerify(assertion, new TextEncoder().encode(client.client_secret), options);
        return true;
      }
      if (client.client_auth_method === 'private_key_jwt') {
        if (client.jwks) {
          // The config schema knows only a mapping; jose checks that it is a key set.
          await jwtVerify(assertion, createLocalJWKSet(client.jwks as unknown as JSONWebKeySet), options);
          return true;
        }
        if (client.jwks_uri) {
          let set = remoteJwks.get(client.jwks_uri);
          if (!set) remoteJwks.set(client.jwks_uri, (set = createRemoteJWKSet(new URL(client.jwks_uri))));
          await jwtVerify(assertion, set, options);
          return true;
        }
      }
      return false;
    } catch {
      return false;
    }
  }

  /** A legacy session's token: the whole client API, admin when the session was made so. */
  async function resolveCompat(key: string, at: Date): Promise<ActiveToken | undefined> {
    const found = await compat.findByAccessToken(sql, key, at);
    if (!found || found.user.locked_at || found.user.deactivated_at) return undefined;
    const { session, user, expires_at } = found;
    // A device id that is not a single scope token could smuggle scopes into the answer.
    if (!isValidCompatDeviceId(session.device_id)) return undefined;
    const scopes = [API_SCOPE, `${DEVICE_SCOPE_PREFIX}${session.device_id}`];
    if (session.is_synapse_admin) scopes.push(SYNAPSE_ADMIN_SCOPE);
    return {
      base: {
        active: true,
        scope: withBothForms(scopes).join(' '),
        client_id: 'legacy',
        username: user.username,
        sub: user.id,
        token_type: 'access_token',
        iat: Math.floor(session.created_at.getTime() / 1000),
      },
      expiresAt: expires_at ?? undefined,
      deviceId: session.device_id,
      activity: { kind: 'compat', id: session.id },
      deps: [`user:${user.id}`, `compat:${session.id}`],
    };
  }

  /** An OAuth 2.0 access or refresh token issued by oidc-provider. */
  async function resolveOAuth(model: 'AccessToken' | 'RefreshToken', key: string, at: Date): Promise<ActiveToken | undefined> {
    // Expired by Mauth's clock, not by the `exp` oidc-provider wrote from its own (see adapter.ts):
    // the lookup compares the row's expires_at with `at`, and the expiry answered is that one.
    const row = await findForIntrospection(sql, model, key, at);
    if (!row || !row.user_active || row.consumed_at) return undefined;
    if (model === 'AccessToken' && !row.used_at) await markAccessTokenUsed(sql, key);
    const scopes = parseScope(row.scope ?? row.payload.scope);
    const { grantId, accountId } = row.payload;
    return {
      base: {
        active: true,
        scope: withBothForms(scopes).join(' '),
        client_id: row.payload.clientId,
        username: row.username,
        sub: accountId,
        token_type: model === 'AccessToken' ? 'access_token' : 'refresh_token',
        iat: row.payload.iat,
      },
      expiresAt: row.expires_at ?? undefined,
      // A refresh token's lifetime is not the access it grants: no expiry is given for it.
      omitExpiry: model === 'RefreshToken',
      deviceId: deviceOf(scopes),
      activity: model === 'AccessToken' && grantId ? { kind: 'oauth', id: grantId } : undefined,
      deps: [...(accountId ? [`user:${accountId}`] : []), ...(grantId ? [`grant:${grantId}`] : [])],
    };
  }

  /** Every active answer counts as a use of its session (written in batches). */
  function answer(token: ActiveToken, at: Date, supportsDeviceId: boolean): IntrospectionAnswer {
    if (token.activity?.kind === 'oauth') activity?.oauth(token.activity.id);
    else if (token.activity?.kind === 'compat') activity?.compat(token.activity.id);
    return { status: 200, body: renderActive(token, at, supportsDeviceId) };
  }

  return async function introspect(req: IntrospectionRequest): Promise<IntrospectionAnswer> {
    const { body } = req;
    if (!(await authenticateClient(req.authorization, body))) {
      return oauthError(401, 'invalid_client', 'client authentication failed');
    }
    if (typeof body.token !== 'string' || body.token.length === 0) {
      return oauthError(400, 'invalid_request', 'missing token parameter');
    }
    const kind = tokenKind(body.token);
    // As MAS: a token of another type than the hint names is not active (Synapse always says
    // access_token, and must never accept a long-lived refresh token as one).
    const hint = body.token_type_hint;
    const isRefresh = kind === 'refreshToken' || kind === 'compatRefreshToken';
    if ((hint === 'access_token' && isRefresh) || (hint === 'refresh_token' && !isRefresh)) return INACTIVE;
    if (kind !== 'compatAccessToken' && kind !== 'personalToken' && kind !== 'accessToken' && kind !== 'refreshToken') return INACTIVE;
    const key = hashSecret(body.token);
    // Access tokens only: Synapse never introspects the others.
    const cached = kind !== 'refreshToken' ? cache : undefined;
    // Changes this process answered for before now must be heard before the cache answers.
    const mark = cached?.syncs.mark();
    const syncing = mark !== undefined ? cached?.syncs.wait(mark) : undefined;
    if (syncing) await syncing;
    const at = clock.now();
    const hit = cached?.get(key, at, mark);
    if (hit) return answer(hit, at, req.supportsDeviceId);
    const ticket = cached?.begin();
    const token =
      kind === 'compatAccessToken'
        ? await resolveCompat(key, at)
        : kind === 'personalToken'
          ? await resolvePersonalToken(sql, clock, key)
          : await resolveOAuth(kind === 'accessToken' ? 'AccessToken' : 'RefreshToken', key, at);
    if (!token) return INACTIVE;
    if (cached && ticket !== undefined) cached.set(key, token, ticket, at);
    return answer(token, at, req.supportsDeviceId);
  };
}

const BODY_LIMIT = 64 * 1024;

function send(res: ServerResponse, answer: IntrospectionAnswer): void {
  const payload = JSON.stringify(answer.body);
  res.writeHead(answer.status, {
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': Buffer.byteLength(payload),
    'Cache-Control': 'no-store',
    ...answer.headers,
  });
  res.end(payload);
}

/**
 * `POST /oauth2/introspect` straight on node:http, ahead of Express: bounded body, form
 * content type required, errors as OAuth JSON. `close()` writes the session activity still held
 * and stops the cache's LISTEN connection.
 */
export function introspectionEndpoint(app: AppContext, onDone?: (status: number, startedAt: bigint) => void, cache?: IntrospectionCache) {
  const activity = new SessionActivity(app.sql, app.log, app.clock, {
    idleTtlSeconds: app.config.experimental.inactive_session_expiration?.ttl,
  });
  const introspect = createIntrospector(app, activity, cache);
  return Object.assign(handle, {
    async close() {
      await cache?.close();
      await activity.close();
    },
  });

  function handle(req: IncomingMessage, res: ServerResponse): void {
    const startedAt = process.hrtime.bigint();
    const finish = (answer: IntrospectionAnswer) => {
      send(res, answer);
      onDone?.(answer.status, startedAt);
    };
    const type = (req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
    if (type !== 'application/x-www-form-urlencoded') {
      req.resume();
      finish(oauthError(400, 'invalid_request', 'the body must be application/x-www-form-urlencoded'));
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = false;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > BODY_LIMIT) tooLarge = true;
      else chunks.push(chunk);
    });
    req.on('error', () => res.destroy());
    req.on('end', () => {
      if (tooLarge) {
        finish(oauthError(413, 'invalid_request', 'the request body is too large'));
        return;
      }
      const body = Object.fromEntries(new URLSearchParams(Buffer.concat(chunks).toString('utf8')));
      introspect({
        authorization: req.headers.authorization,
        supportsDeviceId: req.headers['x-mas-supports-device-id'] === '1',
        body,
      }).then(finish, (err: unknown) => {
        // Synapse retries a 503; a 500 would surface to the client as an error.
        const unavailable = databaseUnavailable(err);
        if (unavailable) {
          app.log.warn({ reason: unavailable }, 'database unavailable: introspection answered 503');
          finish({ ...oauthError(503, 'temporarily_unavailable', 'try again shortly'), headers: { 'Retry-After': String(RETRY_AFTER_SECONDS) } });
          return;
        }
        app.log.error({ err }, 'introspection failed');
        finish(oauthError(500, 'server_error', 'internal error'));
      });
    });
  }
}
