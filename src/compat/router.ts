// The legacy Matrix login API (`/_matrix/client/{r0,v3}/login|logout|refresh`), which the reverse
// proxy sends to Mauth when Synapse delegates authentication. Errors are Matrix JSON.
import { matrixUserId } from '../domain/usernames.js';
import express, { type NextFunction, type Request, type Response, type Router } from 'express';
import type { AppContext } from '../context.js';
import type { PasswordHasher } from '../accounts/passwords.js';
import { authenticatePassword, type LoginIdentifier, type PasswordDirectory } from '../accounts/authenticate.js';
import type { LoginLimiter } from '../accounts/rate-limit.js';
import { hashSecret } from '../domain/tokens.js';
import { RETRY_AFTER_SECONDS } from '../storage/db-errors.js';
import { isValidCompatDeviceId } from '../domain/scopes.js';
import * as compat from '../storage/compat.js';
import * as users from '../storage/users.js';
import { endCompatSessions, generateDeviceId, refreshCompatSession, startCompatSession } from './sessions.js';
import { compatLoginRefusal } from './login-policy.js';
import { authorizePath, idpId, providerForIdp } from '../upstream/providers.js';
import { RouteError, asMatrix, routeHandler } from '../web/errors.js';

/** How long a login token stays valid once the browser side completed (MAS: 30 s). */
export const LOGIN_TOKEN_TTL_SECONDS = 30;

const BODY_LIMIT = 64 * 1024;

/** A Matrix error, answered as `{ errcode, error, ...fields }`; its errcode is also its machine code. */
function matrixError(status: number, errcode: string, message: string, fields: Record<string, unknown> = {}): RouteError {
  return new RouteError(status, errcode, message, { errcode, fields });
}

const versions = (suffix: string) => ['r0', 'v3'].map((v) => `/_matrix/client/${v}${suffix}`);

/** Reads a JSON object body; anything else is M_NOT_JSON. An empty body is `{}` when allowed. */
function jsonBody(req: Request, allowEmpty: boolean): Record<string, unknown> {
  const raw = typeof req.body === 'string' ? req.body : '';
  if (raw.trim() === '') {
    if (allowEmpty) return {};
    throw matrixError(400, 'M_NOT_JSON', 'Content not JSON.');
  }
  if (!req.is('application/json')) throw matrixError(400, 'M_NOT_JSON', 'Content-Type must be application/json.');
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    throw matrixError(400, 'M_NOT_JSON', 'Content not JSON.');
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw matrixError(400, 'M_BAD_JSON', 'Content must be a JSON object.');
  }
  return parsed as Record<string, unknown>;
}

function accessToken(req: Request): string {
  const header = req.get('authorization');
  if (header?.startsWith('Bearer ')) return header.slice(7).trim();
  if (typeof req.query.access_token === 'string') return req.query.access_token;
  throw matrixError(401, 'M_MISSING_TOKEN', 'Missing access token.');
}

function optionalString(body: Record<string, unknown>, key: string): string | undefined {
  const value = body[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') throw matrixError(400, 'M_BAD_JSON', `'${key}' must be a string.`);
  return value;
}

function loginIdentifier(body: Record<string, unknown>): LoginIdentifier {
  const identifier = body.identifier;
  if (identifier === undefined) {
    const user = optionalString(body, 'user');
    if (!user) throw matrixError(400, 'M_BAD_JSON', "Missing 'identifier'.");
    return { kind: 'user', name: user };
  }
  if (!identifier || typeof identifier !== 'object' || Array.isArray(identifier)) {
    throw matrixError(400, 'M_BAD_JSON', "'identifier' must be an object.");
  }
  const id = identifier as Record<string, unknown>;
  if (id.type === 'm.id.user') {
    if (typeof id.user !== 'string' || !id.user) throw matrixError(400, 'M_BAD_JSON', "Missing 'identifier.user'.");
    return { kind: 'user', name: id.user };
  }
  if (id.type === 'm.id.thirdparty') {
    if (typeof id.medium !== 'string' || typeof id.address !== 'string' || !id.address) {
      throw matrixError(400, 'M_BAD_JSON', "'identifier' needs 'medium' and 'address'.");
    }
    return { kind: 'thirdparty', medium: id.medium, address: id.address };
  }
  throw matrixError(400, 'M_UNKNOWN', 'Unknown identifier type.');
}

interface Deps {
  app: AppContext;
  hasher: PasswordHasher;
  limiter: LoginLimiter;
  directory?: PasswordDirectory;
}

export function compatRouter({ app, hasher, limiter, directory }: Deps): Router {
  const { config } = app;
  const router = express.Router();
  const mxid = (username: string) => matrixUserId(username, config.matrix.homeserver);

  // Element Web and other browser clients call these from another origin.
  router.use('/_matrix', (req, res, next) => {
    res.set('Access-Control-Allow-Origin', '*');
    res.set('Access-Control-Allow-Methods', 'GET, POST, PUT, DELETE, OPTIONS');
    res.set('Access-Control-Allow-Headers', 'Origin, X-Requested-With, Content-Type, Accept, Authorization');
    if (req.method === 'OPTIONS') {
      res.status(204).end();
      return;
    }
    next();
  });

  const body = express.text({ type: () => true, limit: BODY_LIMIT });
  const handle = (fn: (req: Request, res: Response) => Promise<void>) => routeHandler(asMatrix, fn);

  router.get(versions('/login'), (_req, res) => {
    const providers = config.upstream_oauth2.providers.filter((p) => p.enabled !== false);
    res.json({
      flows: [
        ...(config.passwords.enabled ? [{ type: 'm.login.password' }] : []),
        {
          type: 'm.login.sso',
          oauth_aware_preferred: true,
          'org.matrix.msc3824.delegated_oidc_compatibility': true,
          ...(providers.length
            ? {
                identity_providers: providers.map((p) => ({
                  id: idpId(p),
                  name: (p.human_name as string | undefined) ?? p.issuer ?? p.id,
                  ...(p.brand_name ? { brand: p.brand_name } : {}),
                })),
              }
            : {}),
        },
        { type: 'm.login.token' },
      ],
    });
  });

  router.post(
    versions('/login'),
    body,
    handle(async (req, res) => {
      const input = jsonBody(req, false);
      if (typeof input.type !== 'string') throw matrixError(400, 'M_BAD_JSON', "Missing 'type'.");
      const deviceId = optionalString(input, 'device_id') || generateDeviceId(app.random);
      if (!isValidCompatDeviceId(deviceId)) {
        throw matrixError(400, 'M_INVALID_PARAM', "'device_id' must be 1 to 255 characters of A-Z a-z 0-9 . _ ~ ! $ & ' ( ) * + , ; = : @ / -.");
      }
      const displayName = optionalString(input, 'initial_device_display_name');
      if (input.refresh_token !== undefined && typeof input.refresh_token !== 'boolean') {
        throw matrixError(400, 'M_BAD_JSON', "'refresh_token' must be a boolean.");
      }
      let user: users.User;
      if (input.type === 'm.login.password' && config.passwords.enabled) {
        const identifier = loginIdentifier(input);
        const password = optionalString(input, 'password');
        // An empty password is a wrong one (403 below), like any other.
        if (password === undefined) throw matrixError(400, 'M_BAD_JSON', "Missing 'password'.");
        const outcome = await authenticatePassword(app, { hasher, limiter, directory }, identifier, password, req.ip);
        if (!outcome.ok) {
          switch (outcome.reason) {
            case 'rate_limited':
              throw new RouteError(429, 'M_LIMIT_EXCEEDED', 'Too many login attempts.', {
                errcode: 'M_LIMIT_EXCEEDED',
                fields: { retry_after_ms: outcome.retryAfterMs },
                retryAfterSeconds: Math.ceil(outcome.retryAfterMs / 1000),
              });
            case 'locked':
              throw matrixError(401, 'M_USER_LOCKED', 'This account is locked.', { soft_logout: false });
            case 'deactivated':
              throw matrixError(403, 'M_USER_DEACTIVATED', 'This account has been deactivated.');
            case 'disabled':
              throw matrixError(400, 'M_UNKNOWN', 'Password login is disabled.');
            case 'unavailable':
              throw new RouteError(503, 'M_UNKNOWN', 'The directory service is not answering; try again shortly.', {
                retryAfterSeconds: RETRY_AFTER_SECONDS,
                fields: { retry_after_ms: RETRY_AFTER_SECONDS * 1000 },
              });
            case 'refused':
              throw matrixError(403, 'M_FORBIDDEN', outcome.message);
            default:
              throw matrixError(403, 'M_FORBIDDEN', 'Invalid username or password.');
          }
        }
        user = outcome.user;
      } else if (input.type === 'm.login.token') {
        const token = optionalString(input, 'token');
        if (!token) throw matrixError(400, 'M_BAD_JSON', "Missing 'token'.");
        const login = await compat.exchangeSsoLogin(app.sql, hashSecret(token), LOGIN_TOKEN_TTL_SECONDS, app.clock.now());
        const found = login?.user_id ? await users.findById(app.sql, login.user_id) : undefined;
        if (!found) throw matrixError(403, 'M_FORBIDDEN', 'Invalid login token.');
        if (found.deactivated_at) throw matrixError(403, 'M_USER_DEACTIVATED', 'This account has been deactivated.');
        if (found.locked_at) throw matrixError(401, 'M_USER_LOCKED', 'This account is locked.', { soft_logout: false });
        user = found;
      } else {
        throw matrixError(400, 'M_UNKNOWN', `Unsupported login type ${input.type}.`);
      }

      const refusal = await compatLoginRefusal(app, req, { user, deviceId, login: input.type === 'm.login.token' ? 'm.login.token' : 'm.login.password' });
      if (refusal) throw matrixError(403, 'M_FORBIDDEN', refusal); // banned requester, hard session limit
      const issued = await startCompatSession(app, {
        user,
        deviceId,
        displayName,
        refreshable: input.refresh_token === true,
        userAgent: req.get('user-agent')?.slice(0, 512), ipAddress: req.ip,
      });
      res.json({
        user_id: mxid(user.username),
        access_token: issued.accessToken,
        device_id: issued.session.device_id,
        home_server: config.matrix.homeserver,
        ...(issued.refreshToken ? { refresh_token: issued.refreshToken, expires_in_ms: issued.expiresInMs } : {}),
      });
    }),
  );

  async function authenticated(req: Request) {
    const found = await compat.findByAccessToken(app.sql, hashSecret(accessToken(req)), app.clock.now());
    if (!found) throw matrixError(401, 'M_UNKNOWN_TOKEN', 'Unknown access token.', { soft_logout: false });
    return found;
  }

  router.post(
    versions('/logout'),
    body,
    handle(async (req, res) => {
      const found = await authenticated(req);
      await endCompatSessions(app, async (tx) => {
        const ended = await compat.finishSession(tx, found.session.id);
        return ended ? [ended] : [];
      });
      res.json({});
    }),
  );

  router.post(
    versions('/logout/all'),
    body,
    handle(async (req, res) => {
      const found = await authenticated(req);
      const input = jsonBody(req, true);
      // As MAS: only compatibility sessions end here, and the client must say it knows that.
      if (input['io.element.only_compat_is_fine'] !== true) {
        throw matrixError(400, 'M_UNRECOGNIZED', "Logging out of all sessions ends only legacy sessions here; send 'io.element.only_compat_is_fine': true.");
      }
      await endCompatSessions(app, (tx) => compat.finishAllForUser(tx, found.user.id));
      res.json({});
    }),
  );

  router.post(
    versions('/refresh'),
    body,
    handle(async (req, res) => {
      const input = jsonBody(req, false);
      const refreshToken = optionalString(input, 'refresh_token');
      if (!refreshToken) throw matrixError(400, 'M_BAD_JSON', "Missing 'refresh_token'.");
      const issued = await refreshCompatSession(app, refreshToken, { ip: req.ip, userAgent: req.get('user-agent')?.slice(0, 512) });
      if (!issued) throw matrixError(401, 'M_UNKNOWN_TOKEN', 'Unknown or used refresh token.', { soft_logout: false });
      res.json({ access_token: issued.accessToken, refresh_token: issued.refreshToken, expires_in_ms: issued.expiresInMs });
    }),
  );

  const ssoRedirect = handle(async (req, res) => {
    const redirectUrl = req.query.redirectUrl;
    if (typeof redirectUrl !== 'string' || !redirectUrl) throw matrixError(400, 'M_MISSING_PARAM', "Missing 'redirectUrl'.");
    let parsed: URL;
    try {
      parsed = new URL(redirectUrl);
    } catch {
      throw matrixError(400, 'M_INVALID_PARAM', "'redirectUrl' is not a URL.");
    }
    if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') {
      throw matrixError(400, 'M_INVALID_PARAM', "'redirectUrl' must be an http(s) URL.");
    }
    const login = await compat.createSsoLogin(app.sql, parsed.href, app.clock.now());
    // `sso/redirect/{idp}` with an upstream provider's id goes straight to that provider.
    const upstream = typeof req.params.idp === 'string' ? providerForIdp(config, req.params.idp) : undefined;
    if (upstream) return void res.redirect(303, new URL(authorizePath(upstream.id, `/complete-compat-sso/${login.id}`), config.http.public_base).href);
    res.redirect(303, new URL(`complete-compat-sso/${login.id}`, config.http.public_base).href);
  });
  router.get(versions('/login/sso/redirect'), ssoRedirect);
  router.get(versions('/login/sso/redirect/:idp'), ssoRedirect);

  // Every other client API path here is not ours.
  router.all('/_matrix/{*rest}', (_req, res) => {
    asMatrix(res, matrixError(404, 'M_UNRECOGNIZED', 'Unrecognized request'));
  });

  router.use('/_matrix', (err: unknown, _req: Request, res: Response, next: NextFunction) => {
    const status = (err as { status?: number }).status;
    if (status === 413) return asMatrix(res, matrixError(413, 'M_TOO_LARGE', 'Request body too large.'));
    if (status && status >= 400 && status < 500) return asMatrix(res, matrixError(400, 'M_NOT_JSON', 'Content not JSON.'));
    next(err);
  });

  return router;
}
