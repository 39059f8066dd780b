// A provider's server metadata (OpenID Connect discovery: strict, lenient or none, with the
// configured endpoint overrides) and the openid-client configuration built from it, cached per
// provider for a while and per stored version of the provider.
import * as oidc from 'openid-client';
import type { UpstreamProvider } from '../config/types.js';
import { clientAuthentication } from './client-auth.js';
import type { UpstreamClientProvider, UpstreamContext } from './stored-provider.js';
import { UpstreamUnavailable, isUnavailable } from './unavailable.js';

const TIMEOUT_SECONDS = 10;
const CACHE_TTL_MS = 10 * 60 * 1000;

function isHttp(value: string | undefined): boolean {
  return !!value && value.startsWith('http:');
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
export async function clientConfiguration(ctx: UpstreamContext, provider: UpstreamClientProvider): Promise<oidc.Configuration> {
  const stamp = provider.row.updated_at.toISOString();
  const hit = cache.get(provider.id);
  if (hit && hit.stamp === stamp && hit.expires > ctx.clock.now().getTime()) return hit.configuration;
  const p = provider.config;
  const metadata = await serverMetadata(p);
  const client: Partial<oidc.ClientMetadata> = {
    id_token_signed_response_alg: p.id_token_signed_response_alg ?? 'RS256',
    ...(p.userinfo_signed_response_alg ? { userinfo_signed_response_alg: p.userinfo_signed_response_alg } : {}),
  };
  const configuration = new oidc.Configuration(metadata, p.client_id!, client, await clientAuthentication(ctx, provider));
  configuration.timeout = TIMEOUT_SECONDS;
  // Verify ID token signatures against the provider's keys even though they come straight from
  // its token endpoint (openid-client skips that by default; MAS checks).
  oidc.enableNonRepudiationChecks(configuration);
  const endpoints = [metadata.issuer, metadata.authorization_endpoint, metadata.token_endpoint, metadata.jwks_uri, metadata.userinfo_endpoint];
  if (endpoints.some((e) => isHttp(e))) oidc.allowInsecureRequests(configuration);
  cache.set(provider.id, { stamp, expires: ctx.clock.now().getTime() + CACHE_TTL_MS, configuration });
  return configuration;
}
