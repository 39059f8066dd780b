// OAuth 2.0 sessions: one per grant, holding the device the client uses on the homeserver.
import { ulid } from 'ulid';
import type { Db } from './db.js';

export interface OAuth2Session {
  id: string;
  grant_id: string;
  user_id: string;
  client_id: string;
  device_id: string | null;
  scope: string;
  created_at: Date;
  last_active_at: Date | null;
  finished_at: Date | null;
}

/**
 * Starts the session of a grant at `now` (the idle sweep measures from it until the session is
 * used); returns it with `created: false` when it already existed.
 */
export async function start(
  db: Db,
  input: { grantId: string; userId: string; clientId: string; deviceId: string | null; scope: string },
  now: Date,
): Promise<{ session: OAuth2Session; created: boolean }> {
  const [inserted] = await db<OAuth2Session[]>`
    INSERT INTO oauth2_sessions (id, grant_id, user_id, client_id, device_id, scope, created_at)
    VALUES (${ulid()}, ${input.grantId}, ${input.userId}, ${input.clientId}, ${input.deviceId}, ${input.scope}, ${now})
    ON CONFLICT (grant_id) DO NOTHING
    RETURNING *`;
  if (inserted) return { session: inserted, created: true };
  const [existing] = await db<OAuth2Session[]>`SELECT * FROM oauth2_sessions WHERE grant_id = ${input.grantId}`;
  return { session: existing, created: false };
}

export async function findByGrantId(db: Db, grantId: string): Promise<OAuth2Session | undefined> {
  const [row] = await db<OAuth2Session[]>`SELECT * FROM oauth2_sessions WHERE grant_id = ${grantId}`;
  return row;
}

/** Marks the session finished; returns it only if this call finished it. */
export async function finishByGrantId(db: Db, grantId: string): Promise<OAuth2Session | undefined> {
  const [row] = await db<OAuth2Session[]>`
    UPDATE oauth2_sessions SET finished_at = now()
    WHERE grant_id = ${grantId} AND finished_at IS NULL
    RETURNING *`;
  return row;
}

export async function listActiveForUser(db: Db, userId: string): Promise<OAuth2Session[]> {
  return db<OAuth2Session[]>`
    SELECT * FROM oauth2_sessions WHERE user_id = ${userId} AND finished_at IS NULL ORDER BY created_at`;
}

/** Device ids the homeserver should know for this user: every live OAuth 2.0 and legacy session's. */
export async function activeDeviceIds(db: Db, userId: string): Promise<string[]> {
  const rows = await db<{ device_id: string }[]>`
    SELECT device_id FROM oauth2_sessions
    WHERE user_id = ${userId} AND finished_at IS NULL AND device_id IS NOT NULL
    UNION
    SELECT device_id FROM compat_sessions WHERE user_id = ${userId} AND finished_at IS NULL`;
  return rows.map((r) => r.device_id);
}

/** Whether a live OAuth 2.0 or legacy session of the user holds this device. */
export async function deviceInUse(db: Db, userId: string, deviceId: string): Promise<boolean> {
  const [row] = await db<{ in_use: boolean }[]>`
    SELECT EXISTS (SELECT 1 FROM oauth2_sessions WHERE user_id = ${userId} AND device_id = ${deviceId} AND finished_at IS NULL)
        OR EXISTS (SELECT 1 FROM compat_sessions WHERE user_id = ${userId} AND device_id = ${deviceId} AND finished_at IS NULL)
        AS in_use`;
  return row.in_use;
}

/**
 * Live sessions unused for more than `idleSeconds` before `now` (one never used: since it was
 * created), longest idle first.
 */
export async function listIdle(db: Db, idleSeconds: number, limit: number, now: Date): Promise<OAuth2Session[]> {
  return db<OAuth2Session[]>`
    SELECT * FROM oauth2_sessions
    WHERE finished_at IS NULL AND coalesce(last_active_at, created_at) < ${now}::timestamptz - make_interval(secs => ${idleSeconds})
    ORDER BY coalesce(last_active_at, created_at)
    LIMIT ${limit}`;
}
