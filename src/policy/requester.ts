// Who is asking (MAS's `requester` input: the client's address and user agent), and the rule
// every policy that takes it shares (`common.requester_banned`): the address is in
// `requester.banned_ips` or the user agent matches `requester.banned_user_agents`.
import type { IncomingHttpHeaders } from 'node:http';
import { matchesString, type PolicyData } from '../domain/policy-data.js';
import type { Violation } from './violation.js';

export interface Requester {
  /** The client's address as the HTTP layer sees it (`http.trusted_proxies` may set it). */
  ip_address?: string;
  user_agent?: string;
}

/** The requester of an HTTP request: Express's `req.ip` (after trusted proxies), else the peer. */
export function requesterOf(req: { ip?: string; headers: IncomingHttpHeaders; socket?: { remoteAddress?: string } }): Requester {
  const ip = req.ip ?? req.socket?.remoteAddress;
  const agent = req.headers['user-agent'];
  return { ...(ip ? { ip_address: ip } : {}), ...(agent ? { user_agent: agent } : {}) };
}

export function requesterBanned(requester: Requester, data: PolicyData): boolean {
  const { banned_ips: ips, banned_user_agents: agents } = data.requester;
  return (!!requester.ip_address && !!ips?.contains(requester.ip_address)) || (requester.user_agent !== undefined && matchesString(requester.user_agent, agents));
}

function formatRequester(requester: Requester): string {
  const parts = [requester.ip_address, requester.user_agent].filter((p) => p !== undefined);
  return parts.length ? parts.join(' / ') : 'unknown';
}

export const REQUESTER_BANNED = 'requester-banned';

/** The violation of a banned requester (MAS's message), if this one is. */
export function requesterViolation(requester: Requester, data: PolicyData): Violation | undefined {
  if (!requesterBanned(requester, data)) return undefined;
  return { code: REQUESTER_BANNED, msg: `Requester [${formatRequester(requester)}] isn't allowed to do this action` };
}
