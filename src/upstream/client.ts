// Mauth as the OAuth 2.0 / OpenID Connect client of an upstream provider, with openid-client:
// discovery (strict, lenient or none), client authentication, the authorization URL with state,
// nonce and PKCE, the code exchange with ID token validation, and userinfo.
import { SignJWT, importJWK, importPKCS8 } from 'jose';
import * as oidc from 'openid-client';
import type { Config, UpstreamProvider } from '../config/types.js';
import { loadSigningKeys } from '../oidc/keys.js';
import type { ProviderRow } from '../storage/upstream.js';
import { decryptSecret } from './secrets.js';

/** A provider as stored by `config sync`, secrets decrypted. */
export interface UpstreamClientProvider {
  id: string;
  row: ProviderRow;
  config: UpstreamProvider;
  clientSecret?: string;
  applePrivateKey?: string;
}

export async function providerFromRow(config: Config, row: ProviderRow): Promise<UpstreamClientProvider> {
  const key = config.secrets.encryption;
  return {
    id: row.id,
    row,
    config: row.config as unknown as UpstreamProvider,
    clientSecret: row.encrypted_client_secret ? await decryptSecret(key, row.encrypted_client_secret) : undefined,
    applePrivateKey: row.encrypted_private_key ? await decryptSecret(key, row.encrypted_private_key) : undefined,
  };
}

/** The provider cannot be reached, or answered with a server error. */
export class UpstreamUnavailable extends Error {
  override readonly name = 'UpstreamUnavailable';
}

const TIMEOUT_SECONDS = 10;
const CACHE_TTL_MS = 10 * 60 * 1000;

function isHttp(value: string | undefined): boolean {
  return !!value && value.startsWith('http:');
}

export function callbackUrl(config: Config, providerId: string): string {
  return new URL(`upstream/callback/${providerId}`, config.http.public_base).href;
}

/** Whether an error means the provider is down or unreachable rather than that it said no. */
export function isUnavailable(err: unknown): boolean {
  if (err instanceof UpstreamUnavailable) return true;
  const e = err as { name?: string; message?: string; status?: number; cause?: unknown };
  if (e?.name === 'TimeoutError' || e?.name === 'AbortError') return true;
  if (e?.name === 'TypeError' && /fetch failed/i.test(e.message ?? '')) return true;
  if (err instanceof oidc.ResponseBodyError) return err.status >= 500;
  if (typeof e?.status === 'number' && e.status >= 500) return true;
  if (e?.cause && e.cause !== err) return isUnavailable(e.cause);
  return false;
}

function assertion(alg: string) {
  const now = Math.floor(Date.now() / 1000);
  return { now, header: { alg } };
}

/** client_secret_jwt with an HMAC algorithm other than openid-client's HS256. */
function clientSecretJwt(secret: string, alg: string): oidc.ClientAuth {
  return (async (as: oidc.ServerMetadata, client: oidc.ClientMetadata, body: URLSearchParams) => {
    const { now, header } = assertion(alg);
    const jwt = await new SignJWT({})
      .setProtectedHeader(header)
      .setIssuer(client.client_id)
      .setSubject(client.client_id)
      .setAudience(as.issuer)
      .setJti(crypto.randomUUID())
      .setIssuedAt(now)
      .setNotBefore(now)
      .setExpirationTime(now + 60)
      .sign(new TextEncoder().encode(secret));
    body.set('client_id', client.client_id);
    body.set('client_assertion_type', 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer');
    body.set('client_assertion', jwt);
  }) as unknown as oidc.ClientAuth;
}

/** Sign in with Apple: the client secret is a short-lived ES256 JWT signed with the team's key. */
function signInWithApple(provider: UpstreamClientProvider): oidc.ClientAuth {
  const apple = provider.config.sign_in_with_apple;
  if (!apple || !provider.applePrivateKey) throw new Error('sign_in_with_apple needs its private key, team_id and key_id');
  const keyPromise = importPKCS8(provider.applePrivateKey, 'ES256');
  return (async (_as: oidc.ServerMetadata, client: oidc.ClientMetadata, body: URLSearchParams) => {
    const now = Math.floor(Date.now() / 1000);
    const secret = await new SignJWT({})
      .setProtectedHeader({ alg: 'ES256', kid: apple.key_id })
      .setIssuer(apple.team_id)
      .setSubject(client.client_id)
      .setAudience('https://appleid.apple.com')
      .setIssuedAt(now)
      .setExpirationTime(now + 300)
      .sign(await keyPromise);
    body.set('client_id', client.client_id);
    body.set('client_secret', secret);
  }) as unknown as oidc.ClientAuth;
}

const KEY_TYPES: Record<string, (jwk: { kty?: string; crv?: string }) => boolean> = {
  RS: (jwk) => jwk.kty === 'RSA',
  PS: (jwk) => jwk.kty === 'RSA',
  ES256: (jwk) => jwk.kty === 'EC' && jwk.crv === 'P-256',
  ES384: (jwk) => jwk.kty === 'EC' && jwk.crv === 'P-384',
  ES256K: (jwk) => jwk.kty === 'EC' && jwk.crv === 'secp256k1',
  EdDSA: (jwk) => jwk.kty === 'OKP' && jwk.crv === 'Ed25519',
};

/** private_key_jwt signs with the first of `secrets.keys` that fits the algorithm. */
async function privateKeyJwt(config: Config, alg: string): Promise<oidc.ClientAuth> {
  const fits = KEY_TYPES[alg] ?? KEY_TYPES[alg.slice(0, 2)];
  const jwk = fits ? (await loadSigningKeys(config.secrets.keys)).find(fits) : undefined;
  if (!jwk) throw new Error(`no key in secrets.keys can sign ${alg} for private_key_jwt`);
  const { alg: _alg, use: _use, ...bare } = jwk;
  const key = await importJWK(bare, alg);
  return oidc.PrivateKeyJwt({ key: key as CryptoKey, kid: jwk.kid });
}

async function clientAuthentication(config: Config, provider: UpstreamClientProvider): Promise<oidc.ClientAuth> {
  const method = provider.config.token_endpoint_auth_method ?? 'client_secret_basic';
  const secret = provider.clientSecret ?? '';
  const alg = provider.config.token_endpoint_auth_signing_alg;
  switch (method) {
    case 'none':
      return oidc.None();
    case 'client_secret_basic':
      return oidc.ClientSecretBasic(secret);
    case 'client_secret_post':
      return oidc.ClientSecretPost(secret);
    case 'client_secret_jwt':
      return !alg || alg === 'HS256' ? oidc.ClientSecretJwt(secret) : clientSecretJwt(secret, alg);
    case 'private_key_jwt':
      return privateKeyJwt(config, alg ?? 'RS256');
    case 'sign_in_with_apple':
      return signInWithApple(provider);
  }
}

function overrides(p: UpstreamProvider): Partial<oidc.ServerMetadata> {
  return {
    ...(p.authorization_endpoint ? { authorization_endpoint: p.authorization_endpoint } : {}),
    ...(p.token_endpoint ? { token_endpoint: p.token_endpoint } : {}),
    ...(p.userinfo_endpoint ? { userinfo_endpoint: p.userinfo_endpoint } : {}),
    ...(p.jwks_uri ? { jwks_uri: p.jwks_uri } : {}),
  };
}

async function serverMetadata(p: UpstreamProvider): Promise<oidc.ServerMetadata> {
  const mode = p.discovery_mode ?? 'oidc';
  if (mode === 'disabled') {
    const issuer = p.issuer ?? new URL(p.authorization_endpoint!).origin;
    return { issuer, ...overrides(p) };
  }
  const issuer = new URL(p.issuer!);
  const insecure = isHttp(p.issuer);
  const options: oidc.DiscoveryRequestOptions = { timeout: TIMEOUT_SECONDS, ...(insecure ? { execute: [oidc.allowInsecureRequests] } : {}) };
  // `insecure` (MAS: lenient metadata checks) reads the document directly, which skips the check
  // that its `issuer` equals the configured one (e.g. Azure AD's templated issuer).
  const target = mode === 'insecure' ? new URL('.well-known/openid-configuration', issuer.href.endsWith('/') ? issuer : `${issuer.href}/`) : issuer;
  let discovered: oidc.Configuration;
  try {
    discovered = await oidc.discovery(target, 'mauth-discovery', undefined, oidc.None(), options);
  } catch (err) {
    if (isUnavailable(err) || (err as { code?: string }).code === 'OAUTH_RESPONSE_IS_NOT_CONFORM') {
      throw new UpstreamUnavailable(`discovery of ${p.issuer} failed: ${(err as Error).message}`, { cause: err });
    }
    throw err;
  }
  return { ...discovered.serverMetadata(), ...overrides(p) };
}

interface Cached {
  stamp: string;
  expires: number;
  configuration: oidc.Configuration;
}

const cache = new Map<string, Cached>();

/** The openid-client configuration of a provider, cached for a while per stored version. */
export async function clientConfiguration(config: Config, provider: UpstreamClientProvider): Promise<oidc.Configuration> {
  const stamp = provider.row.updated_at.toISOString();
  const hit = cache.get(provider.id);
  if (hit && hit.stamp === stamp && hit.expires > Date.now()) return hit.configuration;
  const p = provider.config;
  const metadata = await serverMetadata(p);
  const client: Partial<oidc.ClientMetadata> = {
    id_token_signed_response_alg: p.id_token_signed_response_alg ?? 'RS256',
    ...(p.userinfo_signed_response_alg ? { userinfo_signed_response_alg: p.userinfo_signed_response_alg } : {}),
  };
  const configuration = new oidc.Configuration(metadata, p.client_id!, client, await clientAuthentication(config, provider));
  configuration.timeout = TIMEOUT_SECONDS;
  // Verify ID token signatures against the provider's keys even though they come straight from
  // its token endpoint (openid-client skips that by default; MAS checks).
  oidc.enableNonRepudiationChecks(configuration);
  const endpoints = [metadata.issuer, metadata.authorization_endpoint, metadata.token_endpoint, metadata.jwks_uri, metadata.userinfo_endpoint];
  if (endpoints.some((e) => isHttp(e))) oidc.allowInsecureRequests(configuration);
  cache.set(provider.id, { stamp, expires: Date.now() + CACHE_TTL_MS, configuration });
  return configuration;
}

export function forgetConfiguration(providerId: string): void {
  cache.delete(providerId);
}

export function wantsOpenId(p: UpstreamProvider): boolean {
  return (p.scope ?? '').split(/\s+/).includes('openid');
}

function usePkce(p: UpstreamProvider, configuration: oidc.Configuration): boolean {
  const method = p.pkce_method ?? 'auto';
  if (method === 'always') return true;
  if (method === 'never') return false;
  // auto: when the provider says it supports S256; never without discovery (as MAS).
  return (p.discovery_mode ?? 'oidc') !== 'disabled' && !!configuration.serverMetadata().supportsPKCE?.('S256');
}

export interface AuthorizationStart {
  url: URL;
  state: string;
  nonce?: string;
  codeVerifier?: string;
}

export async function startAuthorization(config: Config, provider: UpstreamClientProvider): Promise<AuthorizationStart> {
  const configuration = await clientConfiguration(config, provider);
  const p = provider.config;
  const state = oidc.randomState();
  const nonce = wantsOpenId(p) ? oidc.randomNonce() : undefined;
  const codeVerifier = usePkce(p, configuration) ? oidc.randomPKCECodeVerifier() : undefined;
  const params: Record<string, string> = {
    ...p.additional_authorization_parameters,
    redirect_uri: callbackUrl(config, provider.id),
    response_type: 'code',
    scope: p.scope ?? 'openid',
    state,
  };
  if (nonce) params.nonce = nonce;
  if (codeVerifier) {
    params.code_challenge = await oidc.calculatePKCECodeChallenge(codeVerifier);
    params.code_challenge_method = 'S256';
  }
  if (p.response_mode) params.response_mode = p.response_mode;
  return { url: oidc.buildAuthorizationUrl(configuration, params), state, nonce, codeVerifier };
}

/** Parameters the provider adds to the callback beyond the protocol's own (Apple's `user`). */
const PROTOCOL_PARAMETERS = new Set(['code', 'state', 'iss', 'session_state', 'error', 'error_description', 'error_uri']);

export interface CallbackOutcome {
  idTokenClaims?: Record<string, unknown>;
  userinfoClaims?: Record<string, unknown>;
  extraCallbackParameters?: Record<string, unknown>;
}

/**
 * Validates the authorization response (state, `iss`, errors), exchanges the code (PKCE, client
 * authentication), validates the ID token (signature against the provider's keys, issuer,
 * audience, expiry, nonce) and reads userinfo when configured. Throws on any failure.
 */
export async function completeAuthorization(
  config: Config,
  provider: UpstreamClientProvider,
  response: Record<string, string>,
  checks: { state: string; nonce?: string; codeVerifier?: string },
): Promise<CallbackOutcome> {
  const configuration = await clientConfiguration(config, provider);
  const p = provider.config;
  const current = new URL(callbackUrl(config, provider.id));
  for (const [key, value] of Object.entries(response)) current.searchParams.append(key, value);
  const tokens = await oidc.authorizationCodeGrant(configuration, current, {
    expectedState: checks.state,
    ...(checks.nonce ? { expectedNonce: checks.nonce } : {}),
    ...(checks.codeVerifier ? { pkceCodeVerifier: checks.codeVerifier } : {}),
    idTokenExpected: wantsOpenId(p),
  });
  const idTokenClaims = tokens.claims() as Record<string, unknown> | undefined;
  let userinfoClaims: Record<string, unknown> | undefined;
  if (p.fetch_userinfo) {
    if (idTokenClaims?.sub && typeof idTokenClaims.sub === 'string') {
      userinfoClaims = (await oidc.fetchUserInfo(configuration, tokens.access_token, idTokenClaims.sub)) as Record<string, unknown>;
    } else {
      // Plain OAuth 2.0 providers (GitHub) have a user API without `sub`: read it as JSON.
      const endpoint = configuration.serverMetadata().userinfo_endpoint;
      if (!endpoint) throw new Error('fetch_userinfo is set but the provider has no userinfo endpoint');
      const res = await oidc.fetchProtectedResource(configuration, tokens.access_token, new URL(endpoint), 'GET');
      if (res.status >= 500) throw new UpstreamUnavailable(`userinfo answered ${res.status}`);
      if (!res.ok) throw new Error(`userinfo answered ${res.status}`);
      const body = (await res.json()) as unknown;
      if (!body || typeof body !== 'object' || Array.isArray(body)) throw new Error('userinfo did not answer a JSON object');
      userinfoClaims = body as Record<string, unknown>;
    }
  }
  const extra = Object.fromEntries(Object.entries(response).filter(([key]) => !PROTOCOL_PARAMETERS.has(key)));
  return { idTokenClaims, userinfoClaims, extraCallbackParameters: Object.keys(extra).length ? extra : undefined };
}
