// The compat login policy (MAS's compat_login): a banned requester is refused; and with session
// limits, the interactive half of `m.login.sso` (the page in the browser, where the user can end
// sessions) stops at the soft limit, while `m.login.password` and `m.login.token`, which have no
// page to show, stop at the hard limit. A login that replaces the session on its device adds no
// session and is never limited.
import type { PolicyData } from '../domain/policy-data.js';
import { requesterViolation, type Requester } from './requester.js';
import { sessionLimitViolation, type SessionCounts } from './session-limit.js';
import type { Violation } from './violation.js';

export type CompatLoginType = 'm.login.password' | 'm.login.token' | 'm.login.sso';

export interface CompatLoginInput {
  login: CompatLoginType;
  /** A live session of the user holds the device this login asks for, and will be replaced. */
  sessionReplaced: boolean;
  /** The user's live sessions; undefined when no session limit is set (see countSessions). */
  sessionCounts?: SessionCounts;
  requester: Requester;
}

export function evaluateCompatLogin(input: CompatLoginInput, data: PolicyData): Violation[] {
  const violations: Violation[] = [];
  const banned = requesterViolation(input.requester, data);
  if (banned) violations.push(banned);
  if (input.sessionCounts && !input.sessionReplaced) {
    const limit =
      input.login === 'm.login.sso'
        ? sessionLimitViolation(input.sessionCounts, data, 'soft_limit', 'user has too many active sessions (soft limit)')
        : sessionLimitViolation(input.sessionCounts, data, 'hard_limit', 'user has too many active sessions (hard limit)');
    if (limit) violations.push(limit);
  }
  return violations;
}
