// OpenID Connect Back-Channel Logout 1.0: validating the logout token a provider POSTs to
// `/upstream/backchannel-logout/{id}` (jose, against the provider's published keys).
import { createRemoteJWKSet, jwtVerify, type JWTVerifyGetKey } from 'jose';
import { clientConfiguration } from './metadata.js';
import type { UpstreamClientProvider, UpstreamContext } from './stored-provider.js';

const LOGOUT_EVENT = 'http://schemas.openid.net/event/backchannel-logout';

export class InvalidLogoutToken extends Error {
  override readonly name = 'InvalidLogoutToken';
}

const keySets = new Map<string, { uri: string; keys: JWTVerifyGetKey }>();

function keysFor(providerId: string, uri: string): JWTVerifyGetKey {
  const hit = keySets.get(providerId);
  if (hit?.uri === uri) return hit.keys;
  const keys = createRemoteJWKSet(new URL(uri), { timeoutDuration: 10_000 });
  keySets.set(providerId, { uri, keys });
  return keys;
}

/** The `sub` and/or `sid` the token logs out. Throws InvalidLogoutToken for any invalid token. */
export async function validateLogoutToken(ctx: UpstreamContext, provider: UpstreamClientProvider, token: string): Promise<{ sub?: string; sid?: string; jti: string }> {
  const configuration = await clientConfiguration(ctx, provider);
  const metadata = configuration.serverMetadata();
  if (!metadata.jwks_uri) throw new InvalidLogoutToken('the provider publishes no keys (jwks_uri)');
  let payload: Record<string, unknown>;
  try {
    ({ payload } = await jwtVerify(token, keysFor(provider.id, metadata.jwks_uri), {
      issuer: metadata.issuer,
      audience: provider.config.client_id,
      algorithms: [provider.config.id_token_signed_response_alg ?? 'RS256'],
      requiredClaims: ['iat', 'exp', 'jti'],
      maxTokenAge: '10 minutes',
      clockTolerance: 30,
      currentDate: ctx.clock.now(),
    }));
  } catch (err) {
    throw new InvalidLogoutToken(`logout token rejected: ${(err as Error).message}`);
  }
  const events = payload.events as Record<string, unknown> | undefined;
  if (!events || typeof events !== 'object' || typeof events[LOGOUT_EVENT] !== 'object' || events[LOGOUT_EVENT] === null) {
    throw new InvalidLogoutToken('logout token has no back-channel logout event');
  }
  if ('nonce' in payload) throw new InvalidLogoutToken('logout token must not carry a nonce');
  const sub = typeof payload.sub === 'string' ? payload.sub : undefined;
  const sid = typeof payload.sid === 'string' ? payload.sid : undefined;
  if (!sub && !sid) throw new InvalidLogoutToken('logout token names neither sub nor sid');
  if (typeof payload.jti !== 'string' || !payload.jti) throw new InvalidLogoutToken('logout token has no jti');
  return { sub, sid, jti: payload.jti };
}
