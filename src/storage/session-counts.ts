// What the session limits count (policies/authorization_grant, policies/compat_login): a user's
// live OAuth 2.0 sessions, compatibility sessions and the personal sessions they own and act as
// (not those an administrator made for them), and which compatibility sessions were used least
// recently. The tables belong to oauth2-sessions.ts, compat.ts and personal-sessions.ts; this
// module only reads them.
import type { Db } from './db.js';

export interface SessionCounts {
  total: number;
  oauth2: number;
  compat: number;
  personal: number;
}

export async function countLiveSessions(db: Db, userId: string): Promise<SessionCounts> {
  const [row] = await db<{ oauth2: number; compat: number; personal: number }[]>`
    SELECT
      (SELECT count(*) FROM oauth2_sessions WHERE user_id = ${userId} AND finished_at IS NULL)::int AS oauth2,
      (SELECT count(*) FROM compat_sessions WHERE user_id = ${userId} AND finished_at IS NULL)::int AS compat,
      (SELECT count(*) FROM personal_sessions
        WHERE actor_user_id = ${userId} AND owner_user_id = ${userId} AND revoked_at IS NULL)::int AS personal`;
  return { ...row, total: row.oauth2 + row.compat + row.personal };
}

/**
 * The ids of the user's live compatibility sessions, least recently used first: never used before
 * used, then by last use, then by creation (MAS's order for `dangerous_hard_limit_eviction`).
 */
export async function leastRecentlyUsedCompatSessions(db: Db, userId: string, limit: number): Promise<string[]> {
  const rows = await db<{ id: string }[]>`
    SELECT id FROM compat_sessions
    WHERE user_id = ${userId} AND finished_at IS NULL
    ORDER BY last_active_at ASC NULLS FIRST, created_at, id
    LIMIT ${limit}`;
  return rows.map((r) => r.id);
}
