// Mauth as the OAuth 2.0 / OpenID Connect client of an upstream provider (openid-client): the
// authorization URL with state, nonce and PKCE, then the code exchange with ID token validation,
// and userinfo. Discovery and caching are metadata.ts, token endpoint authentication client-auth.ts.
import * as oidc from 'openid-client';
import type { Config, UpstreamProvider } from '../config/types.js';
import { clientConfiguration } from './metadata.js';
import type { UpstreamClientProvider, UpstreamContext } from './stored-provider.js';
import { UpstreamUnavailable } from './unavailable.js';

export function callbackUrl(config: Config, providerId: string): string {
  return new URL(`upstream/callback/${providerId}`, config.http.public_base).href;
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

/** 32 random bytes, base64url: what openid-client's randomState, randomNonce and randomPKCECodeVerifier make. */
function randomValue(ctx: UpstreamContext): string {
  return ctx.random.bytes(32).toString('base64url');
}

export async function startAuthorization(ctx: UpstreamContext, provider: UpstreamClientProvider): Promise<AuthorizationStart> {
  const { config } = ctx;
  const configuration = await clientConfiguration(ctx, provider);
  const p = provider.config;
  const state = randomValue(ctx);
  const nonce = wantsOpenId(p) ? randomValue(ctx) : undefined;
  const codeVerifier = usePkce(p, configuration) ? randomValue(ctx) : undefined;
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
  ctx: UpstreamContext,
  provider: UpstreamClientProvider,
  response: Record<string, string>,
  checks: { state: string; nonce?: string; codeVerifier?: string },
): Promise<CallbackOutcome> {
  const { config } = ctx;
  const configuration = await clientConfiguration(ctx, provider);
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
