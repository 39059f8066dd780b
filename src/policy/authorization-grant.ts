// Which scopes a user may be granted, after MAS's authorization_grant policy.
import {
  API_SCOPE,
  DEVICE_SCOPE_PREFIX,
  GRAPHQL_SCOPE,
  MAS_ADMIN_SCOPE,
  SYNAPSE_ADMIN_SCOPE,
  UNSTABLE_API_SCOPE,
  UNSTABLE_DEVICE_SCOPE_PREFIX,
  deviceIdOf,
  isValidDeviceId,
} from '../domain/scopes.js';

export type GrantType = 'authorization_code' | 'urn:ietf:params:oauth:grant-type:device_code' | 'client_credentials';

export interface GrantInput {
  scopes: string[];
  grantType: GrantType;
  user?: { username: string; can_request_admin: boolean };
  /** `policy.data.admin_users`: usernames allowed admin scopes regardless of their flag. */
  adminUsers?: string[];
  /** The client asking (client_credentials). */
  client?: { id: string };
  /** `policy.data.admin_clients`: client ids that may get `urn:mas:admin` by client_credentials. */
  adminClients?: string[];
}

export interface Violation {
  msg: string;
  scope?: string;
}

function interactive(grantType: GrantType): boolean {
  return grantType === 'authorization_code' || grantType === 'urn:ietf:params:oauth:grant-type:device_code';
}

function canRequestAdmin(input: GrantInput): boolean {
  if (!input.user) return false;
  return input.user.can_request_admin || (input.adminUsers ?? []).includes(input.user.username);
}

function scopeAllowed(scope: string, input: GrantInput): boolean {
  switch (scope) {
    case 'openid':
    case 'email':
    case GRAPHQL_SCOPE:
      return true;
    case MAS_ADMIN_SCOPE:
      if (input.grantType === 'client_credentials') return !!input.client && (input.adminClients ?? []).includes(input.client.id);
      return interactive(input.grantType) && canRequestAdmin(input);
    case SYNAPSE_ADMIN_SCOPE:
      // Synapse has no user-less tokens: only with the user present.
      return interactive(input.grantType) && canRequestAdmin(input);
    case API_SCOPE:
    case UNSTABLE_API_SCOPE:
      return interactive(input.grantType);
    default: {
      const device = deviceIdOf(scope);
      return device !== undefined && interactive(input.grantType) && isValidDeviceId(device);
    }
  }
}

export function evaluateGrant(input: GrantInput): Violation[] {
  const violations: Violation[] = [];
  for (const scope of input.scopes) {
    if (!scopeAllowed(scope, input)) violations.push({ msg: `scope '${scope}' not allowed`, scope });
  }
  const stableDevices = input.scopes.filter((s) => s.startsWith(DEVICE_SCOPE_PREFIX));
  const unstableDevices = input.scopes.filter((s) => s.startsWith(UNSTABLE_DEVICE_SCOPE_PREFIX));
  if (stableDevices.length > 1 || unstableDevices.length > 1 || (stableDevices.length && unstableDevices.length)) {
    violations.push({ msg: 'only one device scope is allowed at a time' });
  }
  const hasDevice = stableDevices.length + unstableDevices.length > 0;
  const hasApi = input.scopes.includes(API_SCOPE) || input.scopes.includes(UNSTABLE_API_SCOPE);
  if (hasDevice && !hasApi) {
    violations.push({ msg: 'device scopes are only allowed when the client-server API scope is requested' });
  }
  const stable = input.scopes.some((s) => s.startsWith('urn:matrix:client:'));
  const unstable = input.scopes.some((s) => s.startsWith('urn:matrix:org.matrix.msc2967.client:'));
  if (stable && unstable) violations.push({ msg: 'request cannot mix unstable and stable scopes' });
  return violations;
}
