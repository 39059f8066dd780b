// Logged-in browsers. The cookie holds a random secret; the table keeps only its hash.
import { ulid } from 'ulid';
import { hashSecret } from '../domain/tokens.js';
import type { Db } from './db.js';
import { ACTIVITY_FLUSH_SECONDS } from './session-activity.js';
import type { User } from './users.js';

export interface BrowserSession {
  id: string;
  user_id: string;
  created_at: Date;
  last_authenticated_at: Date;
  finished_at: Date | null;
}

/** A session as the account page shows it. */
export interface BrowserSessionDetails extends BrowserSession {
  user_agent: string | null;
  /** Where it signed in from. */
  ip_address: string | null;
  last_active_at: Date | null;
  last_active_ip: string | null;
}

export async function create(
  db: Db,
  input: { secret: string; userId: string; userAgent?: string; ipAddress?: string; now: Date },
): Promise<BrowserSession> {
  // Created at the application's clock: idleness is measured from here with the same clock.
  const [row] = await db<BrowserSession[]>`
    INSERT INTO browser_sessions (id, secret_hash, user_id, user_agent, ip_address, created_at, last_authenticated_at)
    VALUES (${ulid()}, ${hashSecret(input.secret)}, ${input.userId}, ${input.userAgent ?? null}, ${input.ipAddress ?? null}, ${input.now}, ${input.now})
    RETURNING id, user_id, created_at, last_authenticated_at, finished_at`;
  return row;
}

/**
 * The active session for a cookie secret, with its user if that user may still sign in. Looking
 * it up is using it: its `last_active_at` moves forward to `now` (written at most every few
 * seconds, with the address it came from), which the idle sweep measures from. With
 * `idleTtlSeconds`, a session already idle that long at `now` has expired: it is not found and
 * not revived (the sweep ends it).
 */
export async function findActive(
  db: Db,
  secret: string,
  now: Date,
  idleTtlSeconds?: number,
  ip?: string,
): Promise<{ session: BrowserSession; user: User } | undefined> {
  const secretHash = hashSecret(secret);
  const ttl = idleTtlSeconds ?? null;
  const [row] = await db<(User & { session_id: string; session_created_at: Date; last_authenticated_at: Date })[]>`
    WITH used AS (
      UPDATE browser_sessions SET last_active_at = ${now}, last_active_ip = coalesce(${ip ?? null}, last_active_ip)
      WHERE secret_hash = ${secretHash} AND finished_at IS NULL
        AND (last_active_at IS NULL OR last_active_at < ${now}::timestamptz - make_interval(secs => ${ACTIVITY_FLUSH_SECONDS}))
        AND (${ttl}::int IS NULL OR coalesce(last_active_at, created_at) > ${now}::timestamptz - make_interval(secs => ${ttl}::int))
    )
    SELECT u.*, s.id AS session_id, s.created_at AS session_created_at, s.last_authenticated_at
    FROM browser_sessions s JOIN users u ON u.id = s.user_id
    WHERE s.secret_hash = ${secretHash} AND s.finished_at IS NULL
      AND (${ttl}::int IS NULL OR coalesce(s.last_active_at, s.created_at) > ${now}::timestamptz - make_interval(secs => ${ttl}::int))
      AND u.locked_at IS NULL AND u.deactivated_at IS NULL`;
  if (!row) return undefined;
  const { session_id, session_created_at, last_authenticated_at, ...user } = row;
  return {
    session: { id: session_id, user_id: user.id, created_at: session_created_at, last_authenticated_at, finished_at: null },
    user,
  };
}

export async function finish(db: Db, id: string): Promise<void> {
  await db`UPDATE browser_sessions SET finished_at = now() WHERE id = ${id} AND finished_at IS NULL`;
}

export async function countActiveForUser(db: Db, userId: string): Promise<number> {
  const [row] = await db<{ n: number }[]>`SELECT count(*)::int AS n FROM browser_sessions WHERE user_id = ${userId} AND finished_at IS NULL`;
  return row.n;
}

/** Ends every live session of the user, but `keep` (the browser that asked) when given. */
export async function finishAllForUser(db: Db, userId: string, keep?: string): Promise<void> {
  await db`
    UPDATE browser_sessions SET finished_at = now()
    WHERE user_id = ${userId} AND finished_at IS NULL AND (${keep ?? null}::text IS NULL OR id <> ${keep ?? null})`;
}

// Never the secret's hash.
const DETAILS = ['id', 'user_id', 'created_at', 'last_authenticated_at', 'finished_at', 'user_agent', 'ip_address', 'last_active_at', 'last_active_ip'];

export async function listActiveForUser(db: Db, userId: string): Promise<BrowserSessionDetails[]> {
  return db<BrowserSessionDetails[]>`
    SELECT ${db(DETAILS)} FROM browser_sessions WHERE user_id = ${userId} AND finished_at IS NULL ORDER BY created_at`;
}

/** The user's live session with this id. */
export async function findLiveForUser(db: Db, userId: string, id: string): Promise<BrowserSessionDetails | undefined> {
  const [row] = await db<BrowserSessionDetails[]>`
    SELECT ${db(DETAILS)} FROM browser_sessions WHERE id = ${id} AND user_id = ${userId} AND finished_at IS NULL`;
  return row;
}

/** Ends the user's session with this id; false when there was none live. */
export async function finishForUser(db: Db, userId: string, id: string): Promise<boolean> {
  const rows = await db`
    UPDATE browser_sessions SET finished_at = now() WHERE id = ${id} AND user_id = ${userId} AND finished_at IS NULL RETURNING 1`;
  return rows.length > 0;
}

/**
 * Ends up to `limit` live sessions unused for more than `idleSeconds` before `now` (one never
 * used: since it was created), longest idle first; returns how many.
 */
export async function finishIdle(db: Db, idleSeconds: number, limit: number, now: Date): Promise<number> {
  const rows = await db`
    UPDATE browser_sessions SET finished_at = now()
    WHERE id IN (
      SELECT id FROM browser_sessions
      WHERE finished_at IS NULL AND coalesce(last_active_at, created_at) < ${now}::timestamptz - make_interval(secs => ${idleSeconds})
      ORDER BY coalesce(last_active_at, created_at)
      LIMIT ${limit}
      FOR UPDATE SKIP LOCKED
    ) AND finished_at IS NULL
    RETURNING id`;
  return rows.length;
}
