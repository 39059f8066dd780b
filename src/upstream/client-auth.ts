// How Mauth authenticates to a provider's token endpoint (`token_endpoint_auth_method`): none,
// client_secret_basic/post, client_secret_jwt (any HMAC algorithm), private_key_jwt (signed with
// one of `secrets.keys`) and Sign in with Apple's short-lived ES256 client secret.
import { SignJWT, importJWK, importPKCS8 } from 'jose';
import * as oidc from 'openid-client';
import { loadSigningKeys } from '../oidc/keys.js';
import type { UpstreamClientProvider, UpstreamContext } from './stored-provider.js';

function seconds(ctx: UpstreamContext): number {
  return Math.floor(ctx.clock.now().getTime() / 1000);
}

/** client_secret_jwt with an HMAC algorithm other than openid-client's HS256. */
function clientSecretJwt(ctx: UpstreamContext, secret: string, alg: string): oidc.ClientAuth {
  return (async (as: oidc.ServerMetadata, client: oidc.ClientMetadata, body: URLSearchParams) => {
    const now = seconds(ctx);
    const jwt = await new SignJWT({})
      .setProtectedHeader({ alg })
      .setIssuer(client.client_id)
      .setSubject(client.client_id)
      .setAudience(as.issuer)
      .setJti(ctx.random.bytes(16).toString('base64url'))
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
function signInWithApple(ctx: UpstreamContext, provider: UpstreamClientProvider): oidc.ClientAuth {
  const apple = provider.config.sign_in_with_apple;
  if (!apple || !provider.applePrivateKey) throw new Error('sign_in_with_apple needs its private key, team_id and key_id');
  const keyPromise = importPKCS8(provider.applePrivateKey, 'ES256');
  return (async (_as: oidc.ServerMetadata, client: oidc.ClientMetadata, body: URLSearchParams) => {
    const now = seconds(ctx);
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
async function privateKeyJwt(ctx: UpstreamContext, alg: string): Promise<oidc.ClientAuth> {
  const fits = KEY_TYPES[alg] ?? KEY_TYPES[alg.slice(0, 2)];
  const jwk = fits ? (await loadSigningKeys(ctx.config.secrets.keys)).find(fits) : undefined;
  if (!jwk) throw new Error(`no key in secrets.keys can sign ${alg} for private_key_jwt`);
  const { alg: _alg, use: _use, ...bare } = jwk;
  const key = await importJWK(bare, alg);
  return oidc.PrivateKeyJwt({ key: key as CryptoKey, kid: jwk.kid });
}

export async function clientAuthentication(ctx: UpstreamContext, provider: UpstreamClientProvider): Promise<oidc.ClientAuth> {
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
      return !alg || alg === 'HS256' ? oidc.ClientSecretJwt(secret) : clientSecretJwt(ctx, secret, alg);
    case 'private_key_jwt':
      return privateKeyJwt(ctx, alg ?? 'RS256');
    case 'sign_in_with_apple':
      return signInWithApple(ctx, provider);
  }
}
