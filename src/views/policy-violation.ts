// The page for a sign-in the policies stop for a reason that is not the request itself: who is
// asking (a banned address or user agent) or how many sessions the user has already (the soft
// session limit, where ending some sessions lets the sign-in go on). Its words are in the
// template (pages/policy_violation.njk); views pass what it shows.
import type { Response } from 'express';
import { REQUESTER_BANNED } from '../policy/requester.js';
import { TOO_MANY_SESSIONS } from '../policy/session-limit.js';
import type { Violation } from '../policy/violation.js';
import type { Renderer } from '../web/render.js';

/** Where the user ends sessions (MSC4191's deep link into the account pages). */
export const SESSIONS_URL = '/account/?action=org.matrix.sessions_list';

export type PolicyStop = { reason: 'requester' } | { reason: 'too_many_sessions'; need_to_remove: number };

/**
 * Whether `violations` call for this page: a banned requester always does; the session limit
 * only when nothing else is wrong (ending sessions would not help otherwise, as in MAS).
 */
export function policyStop(violations: readonly Violation[]): PolicyStop | undefined {
  if (violations.some((v) => v.code === REQUESTER_BANNED)) return { reason: 'requester' };
  const limit = violations.find((v) => v.code === TOO_MANY_SESSIONS);
  if (limit && violations.length === 1) return { reason: 'too_many_sessions', need_to_remove: limit.need_to_remove ?? 1 };
  return undefined;
}

export interface PolicyPage {
  client?: { name: string; uri?: string };
  user?: { mxid: string };
  /** The form that says no: back to the app (an authorization), or denying a device. */
  cancel?: { action: string; csrf: string; kind: 'authorization' | 'device' };
  /** This page again, to try once sessions were ended. */
  retryUrl?: string;
}

export function sendPolicyStop(renderer: Renderer, res: Response, status: number, stop: PolicyStop, page: PolicyPage): void {
  renderer.send(res, status, 'policy_violation', {
    ...stop,
    client: page.client,
    user: page.user,
    cancel: page.cancel,
    retry_url: page.retryUrl,
    sessions_url: SESSIONS_URL,
  });
}
