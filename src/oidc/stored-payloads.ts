// The stored form of oidc-provider's models for rows that Mauth writes itself rather than through
// the provider: grants, tokens and registered clients carried over from MAS by `mauth import-mas`.
// They must read back exactly as if oidc-provider had saved them (adapter.ts), so that a client
// refreshes an imported refresh token at Mauth as it did at MAS. Kept free of oidc-provider
// itself, so that the command line can use it without loading the provider.
import { seal } from '../domain/seal.js';
import { API_SCOPE, MAS_ADMIN_SCOPE, SYNAPSE_ADMIN_SCOPE, UNSTABLE_API_SCOPE, parseScope } from '../domain/scopes.js';

/** Marks a client secret stored sealed (JWE) rather than as given. */
export const SEALED = 'sealed:';

/** The scopes oidc-provider is configured with; the dynamic ones (the device scope) live on grants only. */
export const PROVIDER_SCOPES = ['openid', 'email', API_SCOPE, UNSTABLE_API_SCOPE, SYNAPSE_ADMIN_SCOPE, MAS_ADMIN_SCOPE];

/** Lifetimes oidc-provider gives what it issues (provider.ts `ttl`). */
export const TTL_SECONDS = { Grant: 365 * 24 * 3600, RefreshToken: 90 * 24 * 3600 } as const;

const epoch = (date: Date) => Math.floor(date.getTime() / 1000);

export async function sealClientSecret(encryptionSecret: string, secret: string): Promise<string> {
  return `${SEALED}${await seal(encryptionSecret, secret)}`;
}

export interface StoredPayload {
  payload: Record<string, unknown>;
  expiresAt: Date | null;
}

export interface GrantFacts {
  grantId: string;
  accountId: string;
  clientId: string;
  /** Everything consented to, the device scope included. */
  scope: string;
  /** When the grant was made (the session started). */
  createdAt: Date;
  now: Date;
}

/** A grant as oidc-provider saves it after consent: the OpenID scopes, for one account and client. */
export function grantPayload(g: GrantFacts): StoredPayload {
  const expiresAt = new Date(g.now.getTime() + TTL_SECONDS.Grant * 1000);
  return {
    payload: { iat: epoch(g.createdAt), exp: epoch(expiresAt), kind: 'Grant', openid: { scope: g.scope }, clientId: g.clientId, accountId: g.accountId },
    expiresAt,
  };
}

/** oidc-provider keeps on a token only the scopes it knows in advance (its grant has all of them). */
export function tokenScope(scope: string): string {
  return parseScope(scope).filter((s) => PROVIDER_SCOPES.includes(s)).join(' ');
}

/** An access token of an authorization-code grant, until `expiresAt`. */
export function accessTokenPayload(g: GrantFacts, issuedAt: Date, expiresAt: Date): StoredPayload {
  return {
    payload: {
      iat: epoch(issuedAt),
      exp: epoch(expiresAt),
      gty: 'authorization_code',
      kind: 'AccessToken',
      scope: tokenScope(g.scope),
      grantId: g.grantId,
      clientId: g.clientId,
      accountId: g.accountId,
    },
    expiresAt,
  };
}

/**
 * A refresh token not bound to a browser session (expiresWithSession is off), rotated on use;
 * it lives as long as one oidc-provider would issue now.
 */
export function refreshTokenPayload(g: GrantFacts, issuedAt: Date): StoredPayload {
  const expiresAt = new Date(g.now.getTime() + TTL_SECONDS.RefreshToken * 1000);
  return {
    payload: {
      iat: epoch(issuedAt),
      exp: epoch(expiresAt),
      iiat: epoch(g.createdAt),
      gty: 'authorization_code',
      kind: 'RefreshToken',
      scope: tokenScope(g.scope),
      grantId: g.grantId,
      clientId: g.clientId,
      accountId: g.accountId,
      rotations: 0,
    },
    expiresAt,
  };
}
