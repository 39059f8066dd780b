// oidc-provider configured as MAS's OAuth 2.0 / OIDC surface: MAS's routes, Matrix scopes,
// opaque tokens in MAS's format, refresh rotation, one grant (and device) per authorization.
import Provider, { interactionPolicy, type Configuration, type KoaContextWithOIDC } from 'oidc-provider';
import { createHash } from 'node:crypto';
import type { EventEmitter } from 'node:events';
import { ulid } from 'ulid';
import type { AppContext } from '../context.js';
import { generateToken } from '../domain/tokens.js';
import { accountFinder } from './account.js';
import { createAdapterClass } from './adapter.js';
import { DEVICE_AUTHORIZATION_ROUTE, DEVICE_CODE_GRANT, installDeviceGrant, isPollingAnswer } from './device-grant.js';
import { grantDestroyed } from './grants.js';
import { loadSigningKeys } from './keys.js';
import { tokenEndpointHooks } from './token-hooks.js';
import { noIdTokenOnRefresh, refreshInProgress, refreshTransactions } from './refresh.js';
import { PROVIDER_SCOPES, TTL_SECONDS } from './stored-payloads.js';
import { clientCredentialsPolicy, staticClientGrantTypes } from './client-credentials.js';
import { renderProviderError } from './errors.js';
import { SESSION_COOKIE, browserSessionIdleTtl, cookieSecret, readSignedCookie } from '../web/browser.js';
import * as browserSessions from '../storage/browser-sessions.js';

/** The protocol engine, as the rest of Mauth names it (only oidc/ imports oidc-provider). */
export type OidcProvider = Provider;

export const ROUTES = {
  authorization: '/authorize',
  token: '/oauth2/token',
  jwks: '/oauth2/keys.json',
  registration: '/oauth2/registration',
  revocation: '/oauth2/revoke',
  introspection: '/oauth2/introspect',
  userinfo: '/oauth2/userinfo',
  end_session: '/oauth2/logout',
} as const;

/**
 * oidc-provider drops from an authorization request every scope it cannot list in advance, and
 * the Matrix device scope carries the device id. The HTTP layer copies the requested scope into
 * this parameter (overwriting whatever the client sent) so consent sees and grants all of it.
 */
export const MATRIX_SCOPE_PARAM = 'matrix_scope';

export const ACCOUNT_MANAGEMENT_ACTIONS = [
  'org.matrix.profile',
  'org.matrix.sessions_list',
  'org.matrix.session_view',
  'org.matrix.session_end',
  'org.matrix.devices_list',
  'org.matrix.device_view',
  'org.matrix.device_delete',
  'org.matrix.cross_signing_reset',
  'org.matrix.account_deactivate',
];

/** Cookie keys for oidc-provider, derived from `secrets.encryption` (never the raw secret). */
function cookieKey(secret: string, purpose: string): string {
  return createHash('sha256').update(`mauth:${purpose}:`).update(secret).digest('base64url');
}

/**
 * The login prompt also fires when oidc-provider remembers a user that our browser session no
 * longer vouches for (signed out, locked, or another user signed in since).
 */
function policy(app: AppContext) {
  const registrationEnabled = app.config.account.password_registration_enabled;
  const base = interactionPolicy.base();
  const secret = cookieSecret(app.config);
  base.get('login')!.checks.add(
    new interactionPolicy.Check('browser_session', 'the browser session does not match', async (ctx) => {
      const accountId = ctx.oidc.session?.accountId;
      if (!accountId) return false; // the built-in no_session check already asks for a login
      const cookie = readSignedCookie(ctx.get('cookie'), SESSION_COOKIE, secret);
      const found = cookie ? await browserSessions.findActive(app.sql, cookie, app.clock.now(), browserSessionIdleTtl(app.config)) : undefined;
      return found?.user.id !== accountId;
    }),
  );
  if (registrationEnabled) {
    // prompt=create (Initiating User Registration via OpenID Connect): a requestable prompt
    // checked before login, so the interaction starts on the registration page.
    base.add(new interactionPolicy.Prompt({ name: 'create', requestable: true }), 0);
  }
  return base;
}

export interface ProviderHooks {
  /** A refresh of this grant committed (its replaced tokens are gone): for this process's introspection cache. */
  refreshCommitted?(grantId: string): void;
}

export async function createProvider(ctx: AppContext, hooks: ProviderHooks = {}): Promise<Provider> {
  const { config, sql } = ctx;
  const publicBase = new URL(config.http.public_base);
  const secure = publicBase.protocol === 'https:';
  const keys = await loadSigningKeys(config.secrets.keys);
  const deviceGrant = config.oauth.device_code_grant_enabled;

  // A rotation's answer is lost once the deadline answered for it: its retry may be replayed.
  const rotationSettledSeconds = config.database.request_deadline > 0 ? config.database.request_deadline : undefined;
  const Adapter = createAdapterClass(sql, ctx.clock, {
    encryptionSecret: config.secrets.encryption,
    grantDestroyed,
    rotationSettledSeconds,
    // Clients registered while the device grant was on keep their other grants once it is off.
    withdrawnGrantTypes: deviceGrant ? [] : [DEVICE_CODE_GRANT],
    refreshInProgress,
  });

  const configuration: Configuration = {
    adapter: Adapter,
    clients: config.clients.map((c) => ({
      client_id: c.client_id,
      client_secret: c.client_secret,
      client_name: c.client_name,
      token_endpoint_auth_method: c.client_auth_method,
      redirect_uris: c.redirect_uris,
      grant_types: staticClientGrantTypes(c),
      response_types: c.redirect_uris.length > 0 ? ['code'] : [],
      ...(c.jwks ? { jwks: c.jwks as never } : {}),
      ...(c.jwks_uri ? { jwks_uri: c.jwks_uri } : {}),
    })),
    findAccount: accountFinder(sql, refreshInProgress),
    jwks: { keys: keys as never },
    cookies: {
      keys: [cookieKey(config.secrets.encryption, 'oidc-cookies')],
      long: { secure, sameSite: 'lax', httpOnly: true },
      short: { secure, sameSite: 'lax', httpOnly: true },
      names: { session: 'mauth.oidc', interaction: 'mauth.interaction', resume: 'mauth.resume' },
    },
    claims: { openid: ['sub'], email: ['email', 'email_verified'] },
    scopes: PROVIDER_SCOPES,
    responseTypes: ['code'],
    extraParams: [MATRIX_SCOPE_PARAM],
    pkce: { required: (_ctx, client) => client.clientAuthMethod === 'none' },
    features: {
      devInteractions: { enabled: false },
      registration: { enabled: true, idFactory: () => ulid() },
      revocation: { enabled: true },
      clientCredentials: { enabled: true },
      userinfo: { enabled: true },
      introspection: { enabled: false },
      rpInitiatedLogout: { enabled: false },
      // Not routed: a pushed request would also skip the device-scope handling of /authorize.
      pushedAuthorizationRequests: { enabled: false },
    },
    routes: {
      authorization: ROUTES.authorization,
      token: ROUTES.token,
      jwks: ROUTES.jwks,
      registration: ROUTES.registration,
      revocation: ROUTES.revocation,
      introspection: ROUTES.introspection,
      userinfo: ROUTES.userinfo,
      end_session: ROUTES.end_session,
    },
    ttl: {
      AccessToken: config.experimental.access_token_ttl,
      ClientCredentials: config.experimental.access_token_ttl,
      AuthorizationCode: 600,
      RefreshToken: TTL_SECONDS.RefreshToken,
      Grant: TTL_SECONDS.Grant,
      Session: 14 * 24 * 3600,
      Interaction: 3600,
      IdToken: 3600,
    },
    expiresWithSession: () => false,
    issueRefreshToken: async (_ctx, client) => client.grantTypeAllowed('refresh_token'),
    rotateRefreshToken: true,
    // Revoking either token of a session ends the whole session (and its device).
    revokeGrantPolicy: () => true,
    // Every authorization gets a grant of its own: a grant is one OAuth 2.0 session, which owns
    // one device on the homeserver.
    // (only the one just consented to in this very interaction is reused).
    loadExistingGrant: async (koa) => {
      const grantId = koa.oidc.result?.consent?.grantId;
      return grantId ? koa.oidc.provider.Grant.find(grantId) : undefined;
    },
    interactions: {
      policy: policy(ctx),
      url: (_ctx, interaction) => `/interaction/${interaction.uid}`,
    },
    discovery: {
      account_management_uri: new URL('account/', publicBase).href,
      // An app offers what is listed: deactivation only where the account page allows it.
      account_management_actions_supported: ACCOUNT_MANAGEMENT_ACTIONS.filter((a) => a !== 'org.matrix.account_deactivate' || ctx.config.account.account_deactivation_allowed),
      // Served by Mauth itself (see introspection.ts), not by oidc-provider; older Synapse
      // setups (experimental_features.msc3861) find it here.
      introspection_endpoint: new URL(ROUTES.introspection.slice(1), publicBase).href,
      ...(deviceGrant ? { device_authorization_endpoint: new URL(DEVICE_AUTHORIZATION_ROUTE.slice(1), publicBase).href } : {}),
      introspection_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post', 'client_secret_jwt', 'private_key_jwt'],
      prompt_values_supported: ['none', 'login', 'consent', ...(config.account.password_registration_enabled ? ['create'] : [])],
    },
    clientDefaults: {
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
      id_token_signed_response_alg: 'RS256',
    },
    clientBasedCORS: () => true,
    renderError: renderProviderError(ctx),
  };

  const provider = new Provider(config.http.issuer, configuration);
  // Discovery and redirects are built from http.public_base, so the Host header does not matter
  // (the HTTP layer rewrites it); trust the forwarded protocol set there.
  provider.proxy = true;

  for (const model of [provider.AccessToken, provider.RefreshToken, provider.ClientCredentials]) {
    const kind = model === provider.RefreshToken ? 'refreshToken' : 'accessToken';
    // oidc-provider's opaque ids become MAS-format tokens (mat_…/mar_…).
    (model.prototype as unknown as { generateTokenId: () => string }).generateTokenId = function opaqueMasToken(
      this: { format?: string },
    ) {
      this.format = 'opaque';
      return generateToken(kind, ctx.random);
    };
  }

  if (deviceGrant) installDeviceGrant(provider, ctx);
  noIdTokenOnRefresh(provider);
  provider.use(tokenEndpointHooks(ctx));
  // Inside the session hook: a refresh's transaction commits before that hook runs.
  provider.use(refreshTransactions(ctx, { tokenRoute: ROUTES.token, rotationSettledSeconds, committed: hooks.refreshCommitted }));
  provider.use(clientCredentialsPolicy(ctx));
  // oidc-provider keeps the reason of a refused grant out of the response; operators need it.
  for (const event of ['grant.error', 'authorization.error', 'registration_create.error', 'revocation.error', 'server_error'] as const) {
    provider.on(event as 'server_error', (_koa: unknown, err: { error?: string; error_detail?: string; message?: string; status?: number }) => {
      if (isPollingAnswer(err.error)) return;
      const entry = { event, error: err.error, detail: err.error_detail ?? err.message };
      if (event === 'server_error') ctx.log.error({ err }, 'oidc-provider error');
      else ctx.log.info(entry, 'request refused');
    });
  }
  // What escapes every handler reaches Koa, which would print it to stderr: log it instead.
  // (Koa's own event, which oidc-provider's types do not list.)
  (provider as unknown as EventEmitter).on('error', (err: unknown, koa?: { path?: string }) => {
    ctx.log.error({ err, path: koa?.path }, 'unhandled error in an OAuth 2.0 endpoint');
  });
  return provider;
}

export type { KoaContextWithOIDC };
