// Which scopes a user may be granted, after MAS's authorization_grant policy; and, as there, a
// banned requester is refused and, with session limits, a user who already has `soft_limit`
// sessions is asked to end some first (the consent page shows how many).
import type { PolicyData } from '../domain/policy-data.js';
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
import { requesterViolation, type Requester } from './requester.js';
import { sessionLimitViolation, type SessionCounts } from './session-limit.js';
import type { Violation } from './violation.js';

export type { Violation };

export type GrantType = 'authorization_code' | 'urn:ietf:params:oauth:grant-type:device_code' | 'client_credentials';

export interface GrantInput {
  scopes: string[];
  grantType: GrantType;
  /** The user the grant is for (none for client_credentials). */
  user?: { username: string; can_request_admin: boolean };
  /** The client asking. */
  client?: { id: string };
  requester: Requester;
  /** The user's live sessions, when a user is signing in (the session limits apply). */
  sessionCounts?: SessionCounts;
}

function interactive(grantType: GrantType): boolean {
  return grantType === 'authorization_code' || grantType === 'urn:ietf:params:oauth:grant-type:device_code';
}

/** `admin_users` names users allowed admin scopes regardless of their flag. */
function canRequestAdmin(input: GrantInput, data: PolicyData): boolean {
  if (!input.user) return false;
  return input.user.can_request_admin || data.admin_users.includes(input.user.username);
}

function scopeAllowed(scope: string, input: GrantInput, data: PolicyData): boolean {
  switch (scope) {
    case 'openid':
    case 'email':
    case GRAPHQL_SCOPE:
      return true;
    case MAS_ADMIN_SCOPE:
      // `admin_clients`: clients that may get it by client_credentials.
      if (input.grantType === 'client_credentials') return !!input.client && data.admin_clients.includes(input.client.id);
      return interactive(input.grantType) && canRequestAdmin(input, data);
    case SYNAPSE_ADMIN_SCOPE:
      // Synapse has no user-less tokens: only with the user present.
      return interactive(input.grantType) && canRequestAdmin(input, data);
    case API_SCOPE:
    case UNSTABLE_API_SCOPE:
      return interactive(input.grantType);
    default: {
      const device = deviceIdOf(scope);
      return device !== undefined && interactive(input.grantType) && isValidDeviceId(device);
    }
  }
}

export function evaluateGrant(input: GrantInput, data: PolicyData): Violation[] {
  const violations: Violation[] = [];
  for (const scope of input.scopes) {
    if (!scopeAllowed(scope, input, data)) violations.push({ msg: `scope '${scope}' not allowed`, scope });
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
  const banned = requesterViolation(input.requester, data);
  if (banned) violations.push(banned);
  const limit = input.sessionCounts && sessionLimitViolation(input.sessionCounts, data, 'soft_limit', 'user has too many active sessions');
  if (limit) violations.push(limit);
  return violations;
}
