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
  /** The User-Agent of the client's latest token request. */
  user_agent: string | null;
  /** The address of the client's latest token request (introspection comes from the homeserver, not the client). */
  last_active_ip: string | null;
  /** The device name the user chose on the account page. */
  human_name: string | null;
}

/** Who asked for a token: recorded on the session at every token request. */
export interface ClientSeen {
  ip?: string;
  userAgent?: string;
}

/**
 * Starts the session of a grant at `now` (the idle sweep measures from it until the session is
 * used); returns it with `created: false` when it already existed.
 */
export async function start(
  db: Db,
  input: { grantId: string; userId: string; clientId: string; deviceId: string | null; scope: string; seen?: ClientSeen },
  now: Date,
): Promise<{ session: OAuth2Session; created: boolean }> {
  const ip = input.seen?.ip ?? null;
  const userAgent = input.seen?.userAgent ?? null;
  const [inserted] = await db<OAuth2Session[]>`
    INSERT INTO oauth2_sessions (id, grant_id, user_id, client_id, device_id, scope, created_at, user_agent, last_active_ip)
    VALUES (${ulid()}, ${input.grantId}, ${input.userId}, ${input.clientId}, ${input.deviceId}, ${input.scope}, ${now}, ${userAgent}, ${ip})
    ON CONFLICT (grant_id) DO NOTHING
    RETURNING *`;
  if (inserted) return { session: inserted, created: true };
  // A later token request (a refresh): the client's address and agent as they are now.
  const [existing] = await db<OAuth2Session[]>`
    UPDATE oauth2_sessions SET
      last_active_ip = coalesce(${ip}, last_active_ip),
      user_agent = coalesce(${userAgent}, user_agent)
    WHERE grant_id = ${input.grantId}
    RETURNING *`;
  return { session: existing, created: false };
}

/** Records what the client of the grant's session sent with a token request (what is unknown is kept). */
export async function recordSeen(db: Db, grantId: string, seen: ClientSeen): Promise<void> {
  await db`
    UPDATE oauth2_sessions SET
      last_active_ip = coalesce(${seen.ip ?? null}, last_active_ip),
      user_agent = coalesce(${seen.userAgent ?? null}, user_agent)
    WHERE grant_id = ${grantId}`;
}

/** The user's live session with this id. */
export async function findLiveForUser(db: Db, userId: string, id: string): Promise<OAuth2Session | undefined> {
  const [row] = await db<OAuth2Session[]>`
    SELECT * FROM oauth2_sessions WHERE id = ${id} AND user_id = ${userId} AND finished_at IS NULL`;
  return row;
}

/** The user's live session holding this device, if any. */
export async function findLiveByDevice(db: Db, userId: string, deviceId: string): Promise<OAuth2Session | undefined> {
  const [row] = await db<OAuth2Session[]>`
    SELECT * FROM oauth2_sessions WHERE user_id = ${userId} AND device_id = ${deviceId} AND finished_at IS NULL
    ORDER BY created_at DESC LIMIT 1`;
  return row;
}

/** Names the device of a live session; returns it, or undefined when it has ended meanwhile. */
export async function setHumanName(db: Db, userId: string, id: string, name: string): Promise<OAuth2Session | undefined> {
  const [row] = await db<OAuth2Session[]>`
    UPDATE oauth2_sessions SET human_name = ${name} WHERE id = ${id} AND user_id = ${userId} AND finished_at IS NULL RETURNING *`;
  return row;
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

/** The name the user gave this device, from the live OAuth 2.0 or legacy session holding it; undefined when none does. */
export async function liveDeviceName(db: Db, userId: string, deviceId: string): Promise<{ name: string | null } | undefined> {
  const [row] = await db<{ human_name: string | null }[]>`
    SELECT human_name FROM oauth2_sessions WHERE user_id = ${userId} AND device_id = ${deviceId} AND finished_at IS NULL
    UNION ALL
    SELECT human_name FROM compat_sessions WHERE user_id = ${userId} AND device_id = ${deviceId} AND finished_at IS NULL
    LIMIT 1`;
  return row ? { name: row.human_name } : undefined;
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
