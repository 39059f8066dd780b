// Personal sessions and their access tokens (`mpt_…`, MAS's personal access tokens). A session
// acts as its actor user and is owned by a user or by the OAuth 2.0 client that created it; its
// one live token can be replaced (regenerated). Tokens are stored as SHA-256 hashes only.
import { ulid } from 'ulid';
import type { Db } from './db.js';
import { listPage, type Fragment, type Listing, type Page, type PageRequest } from './admin-queries.js';

export interface PersonalSession {
  id: string;
  owner_user_id: string | null;
  owner_client_id: string | null;
  actor_user_id: string;
  human_name: string;
  scope: string;
  created_at: Date;
  revoked_at: Date | null;
  last_active_at: Date | null;
  /** When the live token expires (null: never, or no live token). */
  expires_at: Date | null;
}

export type PersonalSessionOwner = { userId: string } | { clientId: string };

/** Sessions with the expiry of their live token. */
const WITH_EXPIRY = (db: Db) => db`(
  SELECT s.*, (SELECT a.expires_at FROM personal_access_tokens a WHERE a.session_id = s.id AND a.revoked_at IS NULL) AS expires_at
  FROM personal_sessions s)`;

export async function create(
  db: Db,
  input: { owner: PersonalSessionOwner; actorUserId: string; humanName: string; scope: string; now: Date },
): Promise<Omit<PersonalSession, 'expires_at'>> {
  const ownerUser = 'userId' in input.owner ? input.owner.userId : null;
  const ownerClient = 'clientId' in input.owner ? input.owner.clientId : null;
  const [row] = await db<Omit<PersonalSession, 'expires_at'>[]>`
    INSERT INTO personal_sessions (id, owner_user_id, owner_client_id, actor_user_id, human_name, scope, created_at)
    VALUES (${ulid()}, ${ownerUser}, ${ownerClient}, ${input.actorUserId}, ${input.humanName}, ${input.scope}, ${input.now})
    RETURNING *`;
  return row;
}

/** Adds the session's live token; the previous one must have been revoked in the same transaction. */
export async function addToken(db: Db, input: { sessionId: string; tokenHash: string; now: Date; expiresAt: Date | null }): Promise<void> {
  await db`
    INSERT INTO personal_access_tokens (id, session_id, token_hash, created_at, expires_at)
    VALUES (${ulid()}, ${input.sessionId}, ${input.tokenHash}, ${input.now}, ${input.expiresAt})`;
}

/** Revokes the live token of a live session; false when the session is revoked (or unknown). */
export async function revokeLiveToken(db: Db, sessionId: string, now: Date): Promise<boolean> {
  const [session] = await db<{ id: string }[]>`
    SELECT id FROM personal_sessions WHERE id = ${sessionId} AND revoked_at IS NULL FOR UPDATE`;
  if (!session) return false;
  await db`UPDATE personal_access_tokens SET revoked_at = ${now} WHERE session_id = ${sessionId} AND revoked_at IS NULL`;
  return true;
}

export async function find(db: Db, id: string): Promise<PersonalSession | undefined> {
  const [row] = await db<PersonalSession[]>`SELECT t.* FROM ${WITH_EXPIRY(db)} t WHERE t.id = ${id}`;
  return row;
}

/** Revokes the session and its tokens once; undefined when it was revoked already. */
export async function revoke(db: Db, id: string, now: Date): Promise<PersonalSession | undefined> {
  const [row] = await db<{ id: string }[]>`
    UPDATE personal_sessions SET revoked_at = ${now} WHERE id = ${id} AND revoked_at IS NULL RETURNING id`;
  if (!row) return undefined;
  await db`UPDATE personal_access_tokens SET revoked_at = ${now} WHERE session_id = ${id} AND revoked_at IS NULL`;
  return find(db, id);
}

/**
 * Revokes every live session acting as the user or owned by them (deactivation); returns how many.
 * Without `now`, the database's clock stamps them (callers without an application clock).
 */
export async function revokeAllOfUser(db: Db, userId: string, at?: Date): Promise<number> {
  const [{ now }] = await db<{ now: Date }[]>`SELECT coalesce(${at ?? null}::timestamptz, now()) AS now`;
  const rows = await db<{ id: string }[]>`
    UPDATE personal_sessions SET revoked_at = ${now}
    WHERE (actor_user_id = ${userId} OR owner_user_id = ${userId}) AND revoked_at IS NULL
    RETURNING id`;
  if (rows.length) {
    await db`UPDATE personal_access_tokens SET revoked_at = ${now}
             WHERE session_id = ANY(${db.array(rows.map((r) => r.id))}::text[]) AND revoked_at IS NULL`;
  }
  return rows.length;
}

/** Live (not revoked) sessions owned by each client, by client id. */
export async function liveCountsByOwnerClient(db: Db): Promise<Map<string, number>> {
  const rows = await db<{ client_id: string; sessions: number }[]>`
    SELECT owner_client_id AS client_id, count(*)::int AS sessions
    FROM personal_sessions WHERE owner_client_id IS NOT NULL AND revoked_at IS NULL
    GROUP BY 1`;
  return new Map(rows.map((r) => [r.client_id, r.sessions]));
}

/** Revokes every live session the client owns, with its tokens (the client is gone); returns how many. */
export async function revokeAllOwnedByClient(db: Db, clientId: string, now: Date): Promise<number> {
  const rows = await db<{ id: string }[]>`
    UPDATE personal_sessions SET revoked_at = ${now}
    WHERE owner_client_id = ${clientId} AND revoked_at IS NULL
    RETURNING id`;
  if (rows.length) {
    await db`UPDATE personal_access_tokens SET revoked_at = ${now}
             WHERE session_id = ANY(${db.array(rows.map((r) => r.id))}::text[]) AND revoked_at IS NULL`;
  }
  return rows.length;
}

export interface PersonalTokenLookup {
  session: Omit<PersonalSession, 'expires_at'>;
  token: { created_at: Date; expires_at: Date | null };
  actor: { id: string; username: string; locked_at: Date | null; deactivated_at: Date | null };
  /** Whether the owning user (if a user owns it) may still act: not locked or deactivated. */
  owner_active: boolean;
}

/** A token that works at `now`: not revoked or expired, its session not revoked. */
export async function findByToken(db: Db, tokenHash: string, now: Date): Promise<PersonalTokenLookup | undefined> {
  const [row] = await db<(Omit<PersonalSession, 'expires_at'> & {
    token_created_at: Date; token_expires_at: Date | null; username: string; locked_at: Date | null; deactivated_at: Date | null; owner_active: boolean;
  })[]>`
    SELECT s.*, a.created_at AS token_created_at, a.expires_at AS token_expires_at,
           u.username, u.locked_at, u.deactivated_at,
           (s.owner_user_id IS NULL OR EXISTS (SELECT 1 FROM users o WHERE o.id = s.owner_user_id
                                               AND o.locked_at IS NULL AND o.deactivated_at IS NULL)) AS owner_active
    FROM personal_access_tokens a
    JOIN personal_sessions s ON s.id = a.session_id
    JOIN users u ON u.id = s.actor_user_id
    WHERE a.token_hash = ${tokenHash} AND a.revoked_at IS NULL AND s.revoked_at IS NULL
      AND (a.expires_at IS NULL OR a.expires_at > ${now})`;
  if (!row) return undefined;
  const { token_created_at, token_expires_at, username, locked_at, deactivated_at, owner_active, ...session } = row;
  return {
    session,
    token: { created_at: token_created_at, expires_at: token_expires_at },
    actor: { id: session.actor_user_id, username, locked_at, deactivated_at },
    owner_active,
  };
}

/** How often a session's `last_active_at` is written at most. */
export const ACTIVITY_RESOLUTION_SECONDS = 60;

/** Whether a use at `now` is worth writing down (see `touch`). */
export function staleActivity(session: Pick<PersonalSession, 'last_active_at'>, now: Date): boolean {
  return !session.last_active_at || now.getTime() - session.last_active_at.getTime() >= ACTIVITY_RESOLUTION_SECONDS * 1000;
}

/** Records a use; written at most once a minute per session. */
export async function touch(db: Db, id: string, now: Date): Promise<void> {
  await db`
    UPDATE personal_sessions SET last_active_at = ${now}
    WHERE id = ${id} AND (last_active_at IS NULL OR last_active_at < ${now}::timestamptz - interval '1 minute')`;
}

export interface PersonalSessionFilter {
  ownerUser?: string;
  ownerClient?: string;
  actorUser?: string;
  /** Sessions granted every one of these scopes. */
  scopes?: string[];
  status?: 'active' | 'revoked';
  expiresBefore?: Date;
  expiresAfter?: Date;
  /** Whether the live token has an expiry. */
  expires?: boolean;
}

export function listing(db: Db, filter: PersonalSessionFilter): Listing {
  const where: Fragment[] = [];
  if (filter.ownerUser !== undefined) where.push(db`t.owner_user_id = ${filter.ownerUser}`);
  if (filter.ownerClient !== undefined) where.push(db`t.owner_client_id = ${filter.ownerClient}`);
  if (filter.actorUser !== undefined) where.push(db`t.actor_user_id = ${filter.actorUser}`);
  if (filter.scopes?.length) where.push(db`string_to_array(t.scope, ' ') @> ${db.array(filter.scopes)}::text[]`);
  if (filter.status === 'active') where.push(db`t.revoked_at IS NULL`);
  if (filter.status === 'revoked') where.push(db`t.revoked_at IS NOT NULL`);
  if (filter.expiresBefore) where.push(db`t.expires_at < ${filter.expiresBefore}`);
  if (filter.expiresAfter) where.push(db`t.expires_at > ${filter.expiresAfter}`);
  if (filter.expires === true) where.push(db`t.expires_at IS NOT NULL`);
  if (filter.expires === false) where.push(db`t.expires_at IS NULL AND t.revoked_at IS NULL`);
  return { source: WITH_EXPIRY(db), where };
}

export function list(db: Db, filter: PersonalSessionFilter, page: PageRequest): Promise<Page<PersonalSession>> {
  return listPage<PersonalSession>(db, listing(db, filter), page);
}
