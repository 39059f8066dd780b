// Compatibility sessions (legacy `/login`): a device with access tokens and, when the client
// asked for them, rotating refresh tokens. Tokens are stored only as SHA-256 hashes.
import { ulid } from 'ulid';
import type { Db } from './db.js';
import type { User } from './users.js';

export interface CompatSession {
  id: string;
  user_id: string;
  device_id: string;
  is_synapse_admin: boolean;
  created_at: Date;
  last_active_at: Date | null;
  finished_at: Date | null;
  user_agent: string | null;
  /** The address of the client's latest login or refresh. */
  last_active_ip: string | null;
  /** The device name: the client's `initial_device_display_name`, or what the user chose since. */
  human_name: string | null;
}

export interface CompatTokenLookup {
  session: CompatSession;
  user: Pick<User, 'id' | 'username' | 'locked_at' | 'deactivated_at'>;
  token_id: string;
  expires_at: Date | null;
}

/**
 * Serialises changes to one device until the transaction ends: concurrent logins, and a
 * `delete_device` job deciding whether the device is still in use.
 */
export async function lockDevice(db: Db, userId: string, deviceId: string): Promise<void> {
  await db`SELECT pg_advisory_xact_lock(hashtextextended(${`compat-device:${userId}:${deviceId}`}, 0))`;
}

/** Ends the live session holding this device, if any; returns it. Its device stays on the homeserver. */
export async function finishLiveSessionForDevice(db: Db, userId: string, deviceId: string): Promise<CompatSession | undefined> {
  const [row] = await db<CompatSession[]>`
    UPDATE compat_sessions SET finished_at = now()
    WHERE user_id = ${userId} AND device_id = ${deviceId} AND finished_at IS NULL
    RETURNING *`;
  return row;
}

/** The live session holding this device, if any. */
export async function findLiveSessionForDevice(db: Db, userId: string, deviceId: string): Promise<CompatSession | undefined> {
  const [row] = await db<CompatSession[]>`
    SELECT * FROM compat_sessions WHERE user_id = ${userId} AND device_id = ${deviceId} AND finished_at IS NULL`;
  return row;
}

/** A session started at `now` (the idle sweep measures from it until the session is used). */
export async function createSession(
  db: Db,
  input: { userId: string; deviceId: string; admin: boolean; userAgent?: string; ipAddress?: string; humanName?: string },
  now: Date,
): Promise<CompatSession> {
  const [row] = await db<CompatSession[]>`
    INSERT INTO compat_sessions (id, user_id, device_id, is_synapse_admin, user_agent, last_active_ip, human_name, created_at)
    VALUES (${ulid()}, ${input.userId}, ${input.deviceId}, ${input.admin}, ${input.userAgent ?? null}, ${input.ipAddress ?? null},
            ${input.humanName ?? null}, ${now})
    RETURNING *`;
  return row;
}

/** A refresh: where the client is now, and with what. */
export async function recordClient(db: Db, sessionId: string, seen: { ip?: string; userAgent?: string }): Promise<void> {
  await db`
    UPDATE compat_sessions SET
      last_active_ip = coalesce(${seen.ip ?? null}, last_active_ip),
      user_agent = coalesce(${seen.userAgent ?? null}, user_agent)
    WHERE id = ${sessionId}`;
}

/** The user's live session with this id. */
export async function findLiveForUser(db: Db, userId: string, id: string): Promise<CompatSession | undefined> {
  const [row] = await db<CompatSession[]>`
    SELECT * FROM compat_sessions WHERE id = ${id} AND user_id = ${userId} AND finished_at IS NULL`;
  return row;
}

/** Names the device of a live session; returns it, or undefined when it has ended meanwhile. */
export async function setHumanName(db: Db, userId: string, id: string, name: string): Promise<CompatSession | undefined> {
  const [row] = await db<CompatSession[]>`
    UPDATE compat_sessions SET human_name = ${name} WHERE id = ${id} AND user_id = ${userId} AND finished_at IS NULL RETURNING *`;
  return row;
}

export async function addAccessToken(db: Db, sessionId: string, tokenHash: string, expiresAt: Date | null): Promise<string> {
  const id = ulid();
  await db`
    INSERT INTO compat_access_tokens (id, session_id, token_hash, expires_at)
    VALUES (${id}, ${sessionId}, ${tokenHash}, ${expiresAt})`;
  return id;
}

export async function addRefreshToken(db: Db, sessionId: string, tokenHash: string, accessTokenId: string): Promise<void> {
  await db`
    INSERT INTO compat_refresh_tokens (id, session_id, token_hash, access_token_id)
    VALUES (${ulid()}, ${sessionId}, ${tokenHash}, ${accessTokenId})`;
}

/** A live access token: not revoked or expired at `now`, its session not finished. */
export async function findByAccessToken(db: Db, tokenHash: string, now: Date): Promise<CompatTokenLookup | undefined> {
  const [row] = await db<
    (CompatSession & { token_id: string; expires_at: Date | null; username: string; locked_at: Date | null; deactivated_at: Date | null })[]
  >`
    SELECT s.*, t.id AS token_id, t.expires_at, u.username, u.locked_at, u.deactivated_at
    FROM compat_access_tokens t
    JOIN compat_sessions s ON s.id = t.session_id
    JOIN users u ON u.id = s.user_id
    WHERE t.token_hash = ${tokenHash} AND t.revoked_at IS NULL AND s.finished_at IS NULL
      AND (t.expires_at IS NULL OR t.expires_at > ${now})`;
  if (!row) return undefined;
  const { token_id, expires_at, username, locked_at, deactivated_at, ...session } = row;
  return { session, user: { id: session.user_id, username, locked_at, deactivated_at }, token_id, expires_at };
}

/**
 * Takes a refresh token once (one atomic UPDATE) and revokes the access token it was issued
 * with; returns the session, or undefined when the token is unknown, used or its session ended.
 */
export async function consumeRefreshToken(db: Db, tokenHash: string): Promise<CompatSession | undefined> {
  const [row] = await db<{ session_id: string; access_token_id: string }[]>`
    UPDATE compat_refresh_tokens r SET consumed_at = now()
    FROM compat_sessions s, users u
    WHERE r.token_hash = ${tokenHash} AND r.consumed_at IS NULL AND r.revoked_at IS NULL
      AND s.id = r.session_id AND s.finished_at IS NULL
      AND u.id = s.user_id AND u.locked_at IS NULL AND u.deactivated_at IS NULL
    RETURNING r.session_id, r.access_token_id`;
  if (!row) return undefined;
  await db`UPDATE compat_access_tokens SET revoked_at = now() WHERE id = ${row.access_token_id} AND revoked_at IS NULL`;
  const [session] = await db<CompatSession[]>`SELECT * FROM compat_sessions WHERE id = ${row.session_id}`;
  return session;
}

export async function finishSession(db: Db, sessionId: string): Promise<CompatSession | undefined> {
  const [row] = await db<CompatSession[]>`
    UPDATE compat_sessions SET finished_at = now() WHERE id = ${sessionId} AND finished_at IS NULL RETURNING *`;
  return row;
}

export async function finishAllForUser(db: Db, userId: string): Promise<CompatSession[]> {
  return db<CompatSession[]>`
    UPDATE compat_sessions SET finished_at = now() WHERE user_id = ${userId} AND finished_at IS NULL RETURNING *`;
}

/**
 * Ends up to `limit` live sessions unused for more than `idleSeconds` before `now` (one never
 * used: since it was created), longest idle first; returns them. Their devices stay until the
 * caller removes them.
 */
export async function finishIdle(db: Db, idleSeconds: number, limit: number, now: Date): Promise<CompatSession[]> {
  return db<CompatSession[]>`
    UPDATE compat_sessions SET finished_at = now()
    WHERE id IN (
      SELECT id FROM compat_sessions
      WHERE finished_at IS NULL AND coalesce(last_active_at, created_at) < ${now}::timestamptz - make_interval(secs => ${idleSeconds})
      ORDER BY coalesce(last_active_at, created_at)
      LIMIT ${limit}
      FOR UPDATE SKIP LOCKED
    ) AND finished_at IS NULL
    RETURNING *`;
}

export async function listActiveForUser(db: Db, userId: string): Promise<CompatSession[]> {
  return db<CompatSession[]>`
    SELECT * FROM compat_sessions WHERE user_id = ${userId} AND finished_at IS NULL ORDER BY created_at`;
}

// --- m.login.sso round trips ---
// A round trip lasts an hour from its start, a login token `validSeconds` from its issue: both
// times are written from the caller's clock, which later judges them.

export interface SsoLogin {
  id: string;
  redirect_uri: string;
  user_id: string | null;
  created_at: Date;
  fulfilled_at: Date | null;
  exchanged_at: Date | null;
}

export async function createSsoLogin(db: Db, redirectUri: string, now: Date): Promise<SsoLogin> {
  const [row] = await db<SsoLogin[]>`
    INSERT INTO compat_sso_logins (id, redirect_uri, created_at) VALUES (${ulid()}, ${redirectUri}, ${now})
    RETURNING id, redirect_uri, user_id, created_at, fulfilled_at, exchanged_at`;
  return row;
}

export async function findSsoLogin(db: Db, id: string): Promise<SsoLogin | undefined> {
  const [row] = await db<SsoLogin[]>`
    SELECT id, redirect_uri, user_id, created_at, fulfilled_at, exchanged_at FROM compat_sso_logins WHERE id = ${id}`;
  return row;
}

/** Completes a pending round trip for a user with the hash of its login token (once). */
export async function fulfilSsoLogin(db: Db, id: string, userId: string, tokenHash: string, now: Date): Promise<SsoLogin | undefined> {
  const [row] = await db<SsoLogin[]>`
    UPDATE compat_sso_logins SET user_id = ${userId}, token_hash = ${tokenHash}, fulfilled_at = ${now}
    WHERE id = ${id} AND fulfilled_at IS NULL AND created_at > ${now}::timestamptz - interval '1 hour'
    RETURNING id, redirect_uri, user_id, created_at, fulfilled_at, exchanged_at`;
  return row;
}

/** Exchanges a login token: single use, and only within `validSeconds` of its completion. */
export async function exchangeSsoLogin(db: Db, tokenHash: string, validSeconds: number, now: Date): Promise<SsoLogin | undefined> {
  const [row] = await db<SsoLogin[]>`
    UPDATE compat_sso_logins SET exchanged_at = now()
    WHERE token_hash = ${tokenHash} AND exchanged_at IS NULL AND fulfilled_at IS NOT NULL
      AND fulfilled_at > ${now}::timestamptz - make_interval(secs => ${validSeconds})
    RETURNING id, redirect_uri, user_id, created_at, fulfilled_at, exchanged_at`;
  return row;
}

/** Forgets the user's login tokens not yet exchanged (a password reset): they no longer log in. */
export async function dropUnexchangedSsoLogins(db: Db, userId: string): Promise<void> {
  await db`DELETE FROM compat_sso_logins WHERE user_id = ${userId} AND exchanged_at IS NULL`;
}
