// The session limits (`experimental.session_limit`, MAS's `data.session_limit`) as the
// authorization grant and compat login policies apply them. A limit applies when the user has at
// least that many live sessions already, so a new one would go past it; `need_to_remove` says
// how many must end first. Users above `max_session_threshold` are left alone (old bots that
// log in over and over keep working while everyone else stays under the limit).
import type { PolicyData, SessionLimit } from '../domain/policy-data.js';
import type { Db } from '../storage/db.js';
import { countLiveSessions, type SessionCounts } from '../storage/session-counts.js';
import type { Violation } from './violation.js';

export type { SessionCounts };

export const TOO_MANY_SESSIONS = 'too-many-sessions';

/** The user's live sessions, counted only when session limits are on (otherwise nothing reads them). */
export async function countSessions(db: Db, userId: string, data: PolicyData): Promise<SessionCounts | undefined> {
  return data.session_limit ? countLiveSessions(db, userId) : undefined;
}

function withinThreshold(counts: SessionCounts, limit: SessionLimit): boolean {
  return limit.max_session_threshold === undefined || counts.total <= limit.max_session_threshold;
}

/** The `too-many-sessions` violation of `which` limit, if `counts` reach it. */
export function sessionLimitViolation(
  counts: SessionCounts,
  data: PolicyData,
  which: 'soft_limit' | 'hard_limit',
  msg: string,
): Violation | undefined {
  const limit = data.session_limit;
  if (!limit || !withinThreshold(counts, limit) || counts.total < limit[which]) return undefined;
  return { code: TOO_MANY_SESSIONS, msg, need_to_remove: counts.total - limit[which] + 1 };
}
