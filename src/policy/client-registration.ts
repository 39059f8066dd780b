// Dynamic client registration rules, after MAS's client_registration policy: URIs must be https
// on the client_uri's host (or a subdomain of it); native apps may redirect to loopback http or to
// a private-use scheme that is the client_uri's host in reverse-DNS form.
// Unlike MAS, a dynamic client never names a URI that Mauth itself would fetch (a key set or a
// sector identifier): an anonymous registration must not point the server at internal hosts.

import type { ClientRegistrationData } from '../domain/policy-data.js';

export type { ClientRegistrationData };

/** `client_registration` when the policy data says nothing: every rule applies. */
export const STRICT_CLIENT_REGISTRATION: ClientRegistrationData = { allow_host_mismatch: false, allow_insecure_uris: false, allow_missing_client_uri: false };

export interface ClientMetadataInput {
  client_uri?: unknown;
  tos_uri?: unknown;
  policy_uri?: unknown;
  logo_uri?: unknown;
  redirect_uris?: unknown;
  grant_types?: unknown;
  application_type?: unknown;
  token_endpoint_auth_method?: unknown;
  jwks_uri?: unknown;
  jwks?: unknown;
  sector_identifier_uri?: unknown;
}

export interface RegistrationViolation {
  msg: string;
  field:
    | 'client_uri'
    | 'tos_uri'
    | 'policy_uri'
    | 'logo_uri'
    | 'redirect_uris'
    | 'grant_types'
    | 'token_endpoint_auth_method'
    | 'jwks_uri'
    | 'jwks'
    | 'sector_identifier_uri';
}

/**
 * How a dynamic client may authenticate (MAS also offers these). Key-based methods need a key
 * set, and a key set by URI means a server-side fetch on every token request: static clients
 * (`clients` in the config) only.
 */
export const DYNAMIC_CLIENT_AUTH_METHODS: readonly string[] = ['none', 'client_secret_basic', 'client_secret_post'];

/** Metadata only a static client may carry: what would make Mauth fetch or trust a key set. */
export function staticOnlyViolations(meta: ClientMetadataInput): RegistrationViolation[] {
  const v: RegistrationViolation[] = [];
  const method = meta.token_endpoint_auth_method ?? 'none';
  if (typeof method !== 'string' || !DYNAMIC_CLIENT_AUTH_METHODS.includes(method)) {
    v.push({
      field: 'token_endpoint_auth_method',
      msg: `token_endpoint_auth_method must be one of ${DYNAMIC_CLIENT_AUTH_METHODS.join(', ')}`,
    });
  }
  for (const field of ['jwks_uri', 'jwks', 'sector_identifier_uri'] as const) {
    if (meta[field] !== undefined) v.push({ field, msg: `${field} is not allowed for dynamically registered clients` });
  }
  return v;
}

interface ParsedUri {
  scheme: string;
  authority: string;
  host: string;
  port: string;
}

const URI = /^([a-z][a-z0-9+.-]*):(?:\/\/(((?:(?:[a-z0-9]|[a-z0-9][a-z0-9-]*[a-z0-9])\.)*(?:[a-z0-9]|[a-z0-9][a-z0-9-]*[a-z0-9])|127\.0\.0\.1|0\.0\.0\.0|\[::1\])(?::([0-9]+))?))?(\/[A-Za-z0-9/._~%!$&'()*+,;=:@-]*)?(\?[^#]*)?$/;

export function parseUri(value: unknown): ParsedUri | undefined {
  if (typeof value !== 'string') return undefined;
  const m = URI.exec(value);
  if (!m) return undefined;
  return { scheme: m[1], authority: m[2] ?? '', host: m[3] ?? '', port: m[4] ?? '' };
}

const LOCALHOSTS = new Set(['localhost', '127.0.0.1', '0.0.0.0', '[::1]']);

function secureUrl(value: unknown, data: ClientRegistrationData): boolean {
  if (data.allow_insecure_uris && typeof value === 'string') return true;
  const uri = parseUri(value);
  return !!uri && uri.scheme === 'https' && !LOCALHOSTS.has(uri.host) && uri.port === '';
}

/** `sub` equals `host` or is a subdomain of it. */
export function isSubdomain(host: string, sub: string): boolean {
  if (!host || !sub) return false;
  return sub === host || sub.endsWith(`.${host}`);
}

/** `scheme` is the reverse-DNS form of `host` or of a subdomain of it (io.element.app for element.io). */
export function reverseDnsMatches(host: string, scheme: string): boolean {
  const reversed = host.split('.').reverse();
  const parts = scheme.split('.');
  return parts.length >= reversed.length && reversed.every((p, i) => parts[i] === p);
}

function hostMatchesClientUri(value: unknown, meta: ClientMetadataInput, data: ClientRegistrationData): boolean {
  if (data.allow_host_mismatch) return true;
  if (data.allow_missing_client_uri && !meta.client_uri) return true;
  const client = parseUri(meta.client_uri);
  const uri = parseUri(value);
  return !!client && !!uri && isSubdomain(client.host, uri.host);
}

function validNativeRedirect(value: unknown, meta: ClientMetadataInput): boolean {
  const uri = parseUri(value);
  if (!uri) return false;
  if (uri.scheme === 'http') return LOCALHOSTS.has(uri.host) && uri.host !== '0.0.0.0';
  if (uri.scheme === 'https') return false;
  const client = parseUri(meta.client_uri);
  return uri.authority === '' && !!client && reverseDnsMatches(client.host, uri.scheme);
}

function validRedirect(value: unknown, meta: ClientMetadataInput, data: ClientRegistrationData): boolean {
  if (meta.application_type === 'native' && validNativeRedirect(value, meta)) return true;
  return secureUrl(value, data) && hostMatchesClientUri(value, meta, data);
}

function usesGrant(meta: ClientMetadataInput, grant: string): boolean {
  if (meta.grant_types === undefined) return grant === 'authorization_code';
  return Array.isArray(meta.grant_types) && meta.grant_types.includes(grant);
}

export function evaluateClientRegistration(
  meta: ClientMetadataInput,
  data: ClientRegistrationData = STRICT_CLIENT_REGISTRATION,
): RegistrationViolation[] {
  const v: RegistrationViolation[] = staticOnlyViolations(meta);
  if (!meta.client_uri) {
    if (!data.allow_missing_client_uri) v.push({ field: 'client_uri', msg: 'missing client_uri' });
  } else if (!secureUrl(meta.client_uri, data)) {
    v.push({ field: 'client_uri', msg: 'invalid client_uri' });
  }
  for (const field of ['tos_uri', 'policy_uri', 'logo_uri'] as const) {
    const value = meta[field];
    if (value === undefined) continue;
    if (!secureUrl(value, data)) v.push({ field, msg: `invalid ${field}` });
    else if (!hostMatchesClientUri(value, meta, data)) {
      v.push({ field, msg: `${field} not on the same host as the client_uri` });
    }
  }
  if (usesGrant(meta, 'client_credentials') && meta.token_endpoint_auth_method === 'none') {
    v.push({ field: 'grant_types', msg: 'client_credentials grant_type requires some form of client authentication' });
  }
  const needsRedirects = usesGrant(meta, 'authorization_code') || usesGrant(meta, 'implicit');
  if (meta.redirect_uris === undefined) {
    if (needsRedirects) v.push({ field: 'redirect_uris', msg: 'missing redirect_uris' });
  } else if (!Array.isArray(meta.redirect_uris)) {
    v.push({ field: 'redirect_uris', msg: 'invalid redirect_uris: it must be an array' });
  } else {
    if (needsRedirects && meta.redirect_uris.length === 0) {
      v.push({ field: 'redirect_uris', msg: 'invalid redirect_uris: it must have at least one redirect_uri' });
    }
    for (const uri of meta.redirect_uris) {
      if (!validRedirect(uri, meta, data)) v.push({ field: 'redirect_uris', msg: `invalid redirect_uri ${String(uri)}` });
    }
  }
  return v;
}
