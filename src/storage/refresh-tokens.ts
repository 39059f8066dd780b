// The rotation of refresh tokens, part of `oidc_payloads` (whose other statements are in
// oidc-payloads.ts): reading a refresh token with whether its grace is open, the one read of a
// refresh, and consuming a token or spending its one grace replay.
//
// The grace is not judged by the caller's clock: it orders rows written by different instances
// (a token's `consumed_at` against its successors' `created_at`), so one clock, the database's,
// stamps and judges all of them.
import type { Db, Sql, Tx } from './db.js';
import type { PayloadRow } from './oidc-payloads.js';

export interface RefreshTokenRow extends PayloadRow {
  revoked_at: Date | null;
  /** Consumed, but may be replayed once (see `graceable`). */
  graceable: boolean;
}

/** How long after its use a refresh token can still be replayed when the answer was lost. */
export const REFRESH_GRACE_SECONDS = 300;

/**
 * How long after a refresh token's use the rotation that used it may still save its successor,
 * when the caller knows no better bound (the request deadline, after which its answer is lost).
 */
export const ROTATION_SETTLED_SECONDS = 60;

/** A refresh token not expired at `now`, with whether its grace replay is open. */
export async function findRefreshToken(
  db: Db,
  key: string,
  now: Date,
  settledSeconds = ROTATION_SETTLED_SECONDS,
): Promise<RefreshTokenRow | undefined> {
  const [row] = await db<RefreshTokenRow[]>`
    SELECT payload, consumed_at, revoked_at, ${graceable(db, settledSeconds)} AS graceable
    FROM oidc_payloads t
    WHERE t.model = 'RefreshToken' AND t.id = ${key} AND (t.expires_at IS NULL OR t.expires_at > ${now})`;
  return row;
}

/** What `consumeRefreshToken` reports when the token was used or revoked already. */
export interface RefusedRefresh {
  /** The grant the token belongs to (when the token exists): it is compromised and must end. */
  refusedGrantId: string | undefined;
}

/**
 * Consumes a refresh token, or replays it once within the grace. Returns undefined when that
 * worked; otherwise the token was used or revoked already (the grant it belongs to, when the
 * token exists, is then compromised and must end).
 */
export async function consumeRefreshToken(
  sql: Sql,
  key: string,
  settledSeconds = ROTATION_SETTLED_SECONDS,
): Promise<RefusedRefresh | undefined> {
  return sql.begin((tx) => consumeRefreshTokenWithin(tx, key, settledSeconds));
}

/** `consumeRefreshToken` in the caller's transaction. */
export async function consumeRefreshTokenWithin(tx: Tx, key: string, settledSeconds = ROTATION_SETTLED_SECONDS): Promise<RefusedRefresh | undefined> {
  const [token] = await tx<{ grant_id: string }[]>`
    SELECT grant_id FROM oidc_payloads WHERE model = 'RefreshToken' AND id = ${key}`;
  if (!token) return { refusedGrantId: undefined };
  await tx`SELECT pg_advisory_xact_lock(${refreshLockKey(tx, token.grant_id)})`;
  return consumeLockedRefreshToken(tx, key, settledSeconds);
}

/**
 * One rotation or replay per grant at a time: the grace check and the revoking of successors
 * must see the same successors. Whoever consumes a refresh token holds this transaction lock on
 * its grant, taken before the statement that consumes (which then sees every rotation before it).
 * `findForRefresh` computes the same key in SQL.
 */
function refreshLockKey(db: Db, grantId: string) {
  return db`hashtextextended(${`refresh-grant:${grantId}`}, 0)`;
}

/**
 * Waits for the grant's refresh in flight, if any, and keeps others out until the transaction
 * ends: ending a grant takes it before touching a row, so it never holds the access token's row
 * while a refresh holding the refresh token's row waits for it (a deadlock), and its delete then
 * sees the tokens that refresh saved.
 */
export async function lockGrantRefreshes(tx: Tx, grantId: string): Promise<void> {
  await tx`SELECT pg_advisory_xact_lock(${refreshLockKey(tx, grantId)})`;
}

/**
 * `consumeRefreshToken` for a caller holding the grant's lock (`findForRefresh` takes it), in
 * one statement: the token is marked used (or its one grace replay is spent, revoking the unused
 * successors, which are kept so that presenting one later ends the grant), and the grant's
 * access token, which the successors replace, is revoked as MAS does.
 */
export async function consumeLockedRefreshToken(tx: Tx, key: string, settledSeconds = ROTATION_SETTLED_SECONDS): Promise<RefusedRefresh | undefined> {
  const [row] = await tx<{ grant_id: string; consumed: boolean }[]>`
    WITH target AS (
      SELECT t.id, t.grant_id, t.consumed_at, t.revoked_at, ${graceable(tx, settledSeconds)} AS graceable
      FROM oidc_payloads t WHERE t.model = 'RefreshToken' AND t.id = ${key}
    ), used AS (
      UPDATE oidc_payloads p SET consumed_at = clock_timestamp(), grace_used = (p.consumed_at IS NOT NULL)
      FROM target
      WHERE p.model = 'RefreshToken' AND p.id = target.id
        AND target.revoked_at IS NULL AND (target.consumed_at IS NULL OR target.graceable)
        -- of concurrent consumers exactly one wins, lock or not
        AND p.revoked_at IS NULL AND p.consumed_at IS NOT DISTINCT FROM target.consumed_at
      RETURNING p.grant_id, target.consumed_at AS replayed_since
    ), replaced_successors AS (
      UPDATE oidc_payloads r SET revoked_at = clock_timestamp()
      FROM used
      WHERE used.replayed_since IS NOT NULL AND r.model = 'RefreshToken' AND r.grant_id = used.grant_id
        AND r.id <> ${key} AND r.created_at >= used.replayed_since AND r.revoked_at IS NULL
      RETURNING 1
    ), replaced_access AS (
      DELETE FROM oidc_payloads a USING used WHERE a.model = 'AccessToken' AND a.grant_id = used.grant_id
      RETURNING 1
    )
    SELECT target.grant_id, EXISTS (SELECT 1 FROM used) AS consumed FROM target`;
  if (!row) return { refusedGrantId: undefined };
  return row.consumed ? undefined : { refusedGrantId: row.grant_id };
}

/** What one refresh reads, in one statement: the token with its grant, client, user and session. */
export interface RefreshRead extends RefreshTokenRow {
  grant_id: string;
  /** `payload.clientId` of the token: the client the row below is. */
  token_client_id: string | null;
  /** The stored client (null for a static client, or one that is gone). */
  client: PayloadRow | null;
  /** The grant, unless it expired or is gone. */
  grant: PayloadRow | null;
  /** The scope the grant was consented to (tokens carry it, see the adapter). */
  grant_scope: string | null;
  account_id: string | null;
  /** The account, when it exists (`user_id` is then `account_id`). */
  user_id: string | null;
  user_active: boolean;
  /** The account's first verified address (the ID token's `email` claim). */
  email: string | null;
  /** The OAuth 2.0 session of the grant, when it was started; what it last recorded of the client. */
  session_id: string | null;
  session_user_agent: string | null;
  session_ip: string | null;
}

/**
 * The read of a refresh, in the transaction that will consume the token: everything the token
 * endpoint checks (the refresh token with whether its grace is open, its grant, its client, the
 * account and its address, the session), and the grant's refresh lock, taken as the row is read.
 * Expiry is judged at `now`, as `find` does.
 */
export async function findForRefresh(tx: Tx, key: string, now: Date, settledSeconds = ROTATION_SETTLED_SECONDS): Promise<RefreshRead | undefined> {
  const [row] = await tx<(Omit<RefreshRead, 'client' | 'grant'> & {
    client_payload: Record<string, unknown> | null;
    client_consumed_at: Date | null;
    grant_payload: Record<string, unknown> | null;
    grant_consumed_at: Date | null;
  })[]>`
    SELECT t.payload, t.consumed_at, t.revoked_at, ${graceable(tx, settledSeconds)} AS graceable,
           t.grant_id, t.account_id, t.payload ->> 'clientId' AS token_client_id,
           c.payload AS client_payload, c.consumed_at AS client_consumed_at,
           g.payload AS grant_payload, g.consumed_at AS grant_consumed_at, g.payload -> 'openid' ->> 'scope' AS grant_scope,
           u.id AS user_id, coalesce(u.locked_at IS NULL AND u.deactivated_at IS NULL, false) AS user_active,
           (SELECT e.email FROM user_emails e WHERE e.user_id = u.id AND e.verified_at IS NOT NULL
            ORDER BY e.created_at LIMIT 1) AS email,
           s.id AS session_id, s.user_agent AS session_user_agent, s.last_active_ip AS session_ip,
           pg_advisory_xact_lock(hashtextextended('refresh-grant:' || t.grant_id, 0))::text AS locked
    FROM oidc_payloads t
    LEFT JOIN oidc_payloads g ON g.model = 'Grant' AND g.id = t.grant_id AND (g.expires_at IS NULL OR g.expires_at > ${now})
    LEFT JOIN oidc_payloads c ON c.model = 'Client' AND c.id = t.payload ->> 'clientId' AND (c.expires_at IS NULL OR c.expires_at > ${now})
    LEFT JOIN users u ON u.id = t.account_id
    LEFT JOIN oauth2_sessions s ON s.grant_id = t.grant_id
    WHERE t.model = 'RefreshToken' AND t.id = ${key} AND (t.expires_at IS NULL OR t.expires_at > ${now})`;
  if (!row) return undefined;
  const { client_payload, client_consumed_at, grant_payload, grant_consumed_at, ...rest } = row;
  delete (rest as { locked?: unknown }).locked;
  return {
    ...rest,
    client: client_payload ? { payload: client_payload, consumed_at: client_consumed_at } : null,
    grant: grant_payload ? { payload: grant_payload, consumed_at: grant_consumed_at } : null,
  };
}

/**
 * SQL (over the row aliased `t`) telling whether a consumed refresh token may be replayed:
 * within the grace period, once, only while nothing issued after it was used, and only once the
 * rotation that used it is over: its successor exists, or it was used more than `settledSeconds`
 * ago (the rotation failed before saving one; refusing would end the grant of a client whose
 * only fault was our error). A replay racing the rotation still in flight is not a lost
 * response; granting it would leave two live chains that never meet.
 */
function graceable(db: Db, settledSeconds: number) {
  return db`(
    t.consumed_at IS NOT NULL AND NOT t.grace_used AND t.revoked_at IS NULL
    AND t.consumed_at > now() - make_interval(secs => ${REFRESH_GRACE_SECONDS})
    AND NOT EXISTS (SELECT 1 FROM oidc_payloads a WHERE a.model = 'AccessToken' AND a.grant_id = t.grant_id
                    AND a.created_at >= t.consumed_at AND a.used_at IS NOT NULL)
    AND NOT EXISTS (SELECT 1 FROM oidc_payloads r WHERE r.model = 'RefreshToken' AND r.grant_id = t.grant_id
                    AND r.id <> t.id AND r.consumed_at > t.consumed_at)
    AND (EXISTS (SELECT 1 FROM oidc_payloads r WHERE r.model = 'RefreshToken' AND r.grant_id = t.grant_id
                 AND r.id <> t.id AND r.created_at >= t.consumed_at)
         OR t.consumed_at < now() - make_interval(secs => ${settledSeconds}))
  )`;
}
