// Rendezvous sessions (MSC4108, MSC4388), shared by every instance. Each write is one
// conditional statement: a second writer holding a stale ETag or sequence token changes nothing,
// whichever instance it reached. Sessions are keyed by the hash of their ULID, never the ULID.
import type { Db, Sql } from './db.js';

export type RendezvousProtocol = 'msc4108' | 'msc4388';

export interface RendezvousSession {
  protocol: RendezvousProtocol;
  data: Buffer;
  version: string;
  previous_version: string | null;
  created_at: Date;
  updated_at: Date;
  expires_at: Date;
}

export interface NewRendezvousSession {
  idHash: string;
  protocol: RendezvousProtocol;
  data: Buffer;
  version: string;
  now: Date;
  expiresAt: Date;
}

export type CreateResult = { created: true } | { created: false; live: number; nextExpiry: Date };

/** Expired sessions each creation forgets on its way: the backlog cannot outgrow the creations. */
const PRUNE_BATCH = 16;

/**
 * Stores a new session unless `maxSessions` live ones exist already. Creations take turns (one
 * transaction-scoped advisory lock), so instances together never exceed the cap.
 */
export async function createSession(sql: Sql, session: NewRendezvousSession, maxSessions: number): Promise<CreateResult> {
  return sql.begin(async (tx) => {
    await tx`SELECT pg_advisory_xact_lock(hashtextextended('rendezvous:create', 0))`;
    await tx`
      DELETE FROM rendezvous_sessions WHERE id_hash IN (
        SELECT id_hash FROM rendezvous_sessions WHERE expires_at <= ${session.now} ORDER BY expires_at LIMIT ${PRUNE_BATCH})`;
    const [count] = await tx<{ live: number; next_expiry: Date | null }[]>`
      SELECT count(*)::int AS live, min(expires_at) AS next_expiry FROM rendezvous_sessions WHERE expires_at > ${session.now}`;
    if (count && count.live >= maxSessions && count.next_expiry) {
      return { created: false, live: count.live, nextExpiry: count.next_expiry } as const;
    }
    await tx`
      INSERT INTO rendezvous_sessions (id_hash, protocol, data, version, created_at, updated_at, expires_at)
      VALUES (${session.idHash}, ${session.protocol}, ${session.data}, ${session.version}, ${session.now}, ${session.now}, ${session.expiresAt})`;
    return { created: true } as const;
  });
}

/** The session if it exists for this protocol and has not expired at `now`. */
export async function findLiveSession(db: Db, idHash: string, protocol: RendezvousProtocol, now: Date): Promise<RendezvousSession | undefined> {
  const [row] = await db<RendezvousSession[]>`
    SELECT protocol, data, version, previous_version, created_at, updated_at, expires_at FROM rendezvous_sessions
    WHERE id_hash = ${idHash} AND protocol = ${protocol} AND expires_at > ${now}`;
  return row;
}

export interface Replacement {
  idHash: string;
  protocol: RendezvousProtocol;
  now: Date;
  /** The versions the writer saw; `'any'` for an unconditional write (`If-Match: *`). */
  expected: readonly string[] | 'any';
  data: Buffer;
  version: string;
}

/**
 * Replaces the data of a live session whose current version is one the writer expects, in one
 * statement; the version it replaces is kept as `previous_version`. Undefined when the session is
 * gone or was written by someone else first (the caller tells the two apart with findLiveSession).
 */
export async function replaceIfCurrent(db: Db, change: Replacement): Promise<RendezvousSession | undefined> {
  const any = change.expected === 'any';
  const expected = any ? [] : [...change.expected];
  const [row] = await db<RendezvousSession[]>`
    UPDATE rendezvous_sessions
    SET data = ${change.data}, previous_version = version, version = ${change.version}, updated_at = ${change.now}
    WHERE id_hash = ${change.idHash} AND protocol = ${change.protocol} AND expires_at > ${change.now}
      AND (${any}::boolean OR version = ANY(${expected}::text[]))
    RETURNING protocol, data, version, previous_version, created_at, updated_at, expires_at`;
  return row;
}

/** Deletes the session; true when it was still live. */
export async function deleteSession(db: Db, idHash: string, protocol: RendezvousProtocol, now: Date): Promise<boolean> {
  const [row] = await db<{ expires_at: Date }[]>`
    DELETE FROM rendezvous_sessions WHERE id_hash = ${idHash} AND protocol = ${protocol} RETURNING expires_at`;
  return row !== undefined && row.expires_at > now;
}

/** Forgets every expired session (the periodic cleanup; creations also prune a few). */
export async function pruneExpired(db: Db, now: Date): Promise<number> {
  const rows = await db`DELETE FROM rendezvous_sessions WHERE expires_at <= ${now} RETURNING 1`;
  return rows.length;
}
