// Matrix OAuth 2.0 scopes (MSC2967 and the stable forms adopted by the spec).

export const API_SCOPE = 'urn:matrix:client:api:*';
export const UNSTABLE_API_SCOPE = 'urn:matrix:org.matrix.msc2967.client:api:*';
export const DEVICE_SCOPE_PREFIX = 'urn:matrix:client:device:';
export const UNSTABLE_DEVICE_SCOPE_PREFIX = 'urn:matrix:org.matrix.msc2967.client:device:';
export const SYNAPSE_ADMIN_SCOPE = 'urn:synapse:admin:*';
export const MAS_ADMIN_SCOPE = 'urn:mas:admin';
export const GRAPHQL_SCOPE = 'urn:mas:graphql:*';

const DEVICE_ID = /^[A-Za-z0-9._~!$&'()*+,;=:@/-]{10,}$/;

export function parseScope(scope: string | undefined | null): string[] {
  return (scope ?? '').split(' ').filter(Boolean);
}

export function deviceIdOf(scope: string): string | undefined {
  if (scope.startsWith(DEVICE_SCOPE_PREFIX)) return scope.slice(DEVICE_SCOPE_PREFIX.length);
  if (scope.startsWith(UNSTABLE_DEVICE_SCOPE_PREFIX)) return scope.slice(UNSTABLE_DEVICE_SCOPE_PREFIX.length);
  return undefined;
}

export function isValidDeviceId(deviceId: string): boolean {
  return DEVICE_ID.test(deviceId);
}

const COMPAT_DEVICE_ID = /^[A-Za-z0-9._~!$&'()*+,;=:@/-]{1,255}$/;

/**
 * Legacy clients pick shorter ids than the OAuth device scope allows, but the id still has to be
 * one scope token: it is written into introspection answers as a device scope.
 */
export function isValidCompatDeviceId(deviceId: string): boolean {
  return COMPAT_DEVICE_ID.test(deviceId);
}

/** The device a set of scopes names (there is at most one once a grant passed the policy). */
export function deviceOf(scopes: Iterable<string>): string | undefined {
  for (const scope of scopes) {
    const id = deviceIdOf(scope);
    if (id !== undefined) return id;
  }
  return undefined;
}

export function hasApiScope(scopes: Iterable<string>): boolean {
  for (const s of scopes) if (s === API_SCOPE || s === UNSTABLE_API_SCOPE) return true;
  return false;
}

/**
 * Both the stable and the unstable form of every Matrix scope: Synapse versions differ in which
 * they look for, so introspection answers with both.
 */
export function withBothForms(scopes: Iterable<string>): string[] {
  const out = new Set<string>();
  for (const scope of scopes) {
    out.add(scope);
    if (scope === API_SCOPE || scope === UNSTABLE_API_SCOPE) {
      out.add(API_SCOPE);
      out.add(UNSTABLE_API_SCOPE);
      continue;
    }
    const device = deviceIdOf(scope);
    if (device !== undefined) {
      out.add(DEVICE_SCOPE_PREFIX + device);
      out.add(UNSTABLE_DEVICE_SCOPE_PREFIX + device);
    }
  }
  return [...out];
}

/** Scopes with a dynamic suffix (the device id) that a provider must accept by pattern. */
export function isMatrixScope(scope: string): boolean {
  return (
    scope === API_SCOPE ||
    scope === UNSTABLE_API_SCOPE ||
    scope === SYNAPSE_ADMIN_SCOPE ||
    scope === MAS_ADMIN_SCOPE ||
    scope === GRAPHQL_SCOPE ||
    deviceIdOf(scope) !== undefined
  );
}
