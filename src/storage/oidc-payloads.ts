// oidc-provider's stored models (`oidc_payloads`): every statement on that table lives here. The
// adapter in oidc/ decides what a model's key is (bearer secrets are stored as their SHA-256) and
// what the payload holds; this module reads and writes rows by that key.
//
// Expiry (`expires_at`) is written and compared with the caller's clock. The refresh-token grace
// is not: it orders rows written by different instances (a token's `consumed_at` against its
// successors' `created_at`), so one clock, the database's, stamps and judges all of them.
import type postgres from 'postgres';
import type { Db, Sql, Tx } from './db.js';

export interface PayloadRow {
  payload: Record<string, unknown>;
  consumed_at: Date | null;
}

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

export async function upsert(
  db: Db,
  row: {
    model: string;
    key: string;
    payload: Record<string, unknown>;
    grantId: string | null;
    accountId: string | null;
    uid: string | null;
    userCodeHash: string | null;
    expiresAt: Date | null;
    /** Tokens take the scope of their grant (see the adapter). */
    scopeFromGrant: boolean;
    /** That scope when the caller read the grant already (a refresh): no lookup then. */
    grantScope?: string | null;
  },
): Promise<void> {
  const scope =
    row.grantScope !== undefined
      ? db`${row.grantScope}::text`
      : db`(SELECT g.payload -> 'openid' ->> 'scope' FROM oidc_payloads g
            WHERE ${row.scopeFromGrant} AND g.model = 'Grant' AND g.id = ${row.grantId})`;
  await db`
    INSERT INTO oidc_payloads (model, id, payload, grant_id, account_id, uid, user_code, expires_at, scope)
    VALUES (${row.model}, ${row.key}, ${db.json(row.payload as postgres.JSONValue)}, ${row.grantId},
            ${row.accountId}, ${row.uid}, ${row.userCodeHash}, ${row.expiresAt}, ${scope})
    ON CONFLICT (model, id) DO UPDATE SET
      payload = excluded.payload, grant_id = excluded.grant_id, account_id = excluded.account_id,
      uid = excluded.uid, user_code = excluded.user_code, expires_at = excluded.expires_at,
      scope = excluded.scope`;
}

/** A row not expired at `now`. */
export async function find(db: Db, model: string, key: string, now: Date): Promise<PayloadRow | undefined> {
  const [row] = await db<PayloadRow[]>`
    SELECT payload, consumed_at FROM oidc_payloads
    WHERE model = ${model} AND id = ${key} AND (expires_at IS NULL OR expires_at > ${now})`;
  return row;
}

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

export async function findByUid(db: Db, model: string, uid: string, now: Date): Promise<PayloadRow | undefined> {
  const [row] = await db<PayloadRow[]>`
    SELECT payload, consumed_at FROM oidc_payloads
    WHERE model = ${model} AND uid = ${uid} AND (expires_at IS NULL OR expires_at > ${now})`;
  return row;
}

export async function findByUserCode(db: Db, model: string, userCodeHash: string, now: Date): Promise<PayloadRow | undefined> {
  const [row] = await db<PayloadRow[]>`
    SELECT payload, consumed_at FROM oidc_payloads
    WHERE model = ${model} AND user_code = ${userCodeHash}
      AND (expires_at IS NULL OR expires_at > ${now})`;
  return row;
}

/** One atomic UPDATE: of concurrent consumers exactly one gets true. */
export async function consume(db: Db, model: string, key: string): Promise<boolean> {
  const rows = await db`
    UPDATE oidc_payloads SET consumed_at = clock_timestamp()
    WHERE model = ${model} AND id = ${key} AND consumed_at IS NULL
    RETURNING 1`;
  return rows.length > 0;
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
  return sql.begin(async (tx) => {
    const [token] = await tx<{ grant_id: string }[]>`
      SELECT grant_id FROM oidc_payloads WHERE model = 'RefreshToken' AND id = ${key}`;
    if (!token) return { refusedGrantId: undefined };
    await tx`SELECT pg_advisory_xact_lock(${refreshLockKey(tx, token.grant_id)})`;
    return consumeLockedRefreshToken(tx, key, settledSeconds);
  });
}

/**
 * One rotation or replay per grant at a time: the grace check and the revoking of successors
 * must see the same successors. Whoever consumes a refresh token holds this transaction lock on
 * its grant, taken before the statement that consumes (which then sees every rotation before it).
 */
function refreshLockKey(db: Db, grantId: string) {
  return db`hashtextextended(${`refresh-grant:${grantId}`}, 0)`;
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

/** A grant and everything issued under it; `ended` runs in the same transaction. */
export async function destroyGrant(sql: Sql, grantId: string, ended?: (tx: Tx) => Promise<void>): Promise<void> {
  await sql.begin((tx) => destroyGrantWithin(tx, grantId, ended));
}

/** `destroyGrant` in the caller's transaction. */
export async function destroyGrantWithin(tx: Tx, grantId: string, ended?: (tx: Tx) => Promise<void>): Promise<void> {
  await tx`DELETE FROM oidc_payloads WHERE grant_id = ${grantId}`;
  await tx`DELETE FROM oidc_payloads WHERE model = 'Grant' AND id = ${grantId}`;
  await ended?.(tx);
}

export async function destroy(db: Db, model: string, key: string): Promise<void> {
  await db`DELETE FROM oidc_payloads WHERE model = ${model} AND id = ${key}`;
}

export async function revokeByGrantId(db: Db, model: string, grantId: string): Promise<void> {
  await db`DELETE FROM oidc_payloads WHERE model = ${model} AND grant_id = ${grantId}`;
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

/** Marks an access token as used by a resource server (first use only; refresh grace needs it). */
export async function markAccessTokenUsed(db: Db, key: string): Promise<void> {
  await db`UPDATE oidc_payloads SET used_at = now() WHERE model = 'AccessToken' AND id = ${key} AND used_at IS NULL`;
}

// --- read outside the adapter ---

export interface IntrospectedToken {
  model: 'AccessToken' | 'RefreshToken';
  payload: {
    accountId?: string;
    clientId?: string;
    grantId?: string;
    scope?: string;
    iat?: number;
    exp?: number;
  };
  expires_at: Date | null;
  consumed_at: Date | null;
  used_at: Date | null;
  /**
   * The scope of the grant the token belongs to. oidc-provider drops scopes it cannot list in
   * advance (the Matrix device scope carries the device id) from the token itself; the grant keeps
   * exactly what the user consented to.
   */
  scope: string | null;
  username: string;
  user_active: boolean;
}

/**
 * The introspection lookup: one indexed read by token hash, joined to its user. A token is found
 * only while it has not expired at `now`, is not revoked and its grant exists.
 */
export async function findForIntrospection(
  db: Db,
  model: 'AccessToken' | 'RefreshToken',
  key: string,
  now: Date,
): Promise<IntrospectedToken | undefined> {
  const [row] = await db<IntrospectedToken[]>`
    SELECT p.model, p.payload, p.expires_at, p.consumed_at, p.used_at, u.username,
           (u.locked_at IS NULL AND u.deactivated_at IS NULL) AS user_active, p.scope
    FROM oidc_payloads p
    JOIN users u ON u.id = p.account_id
    WHERE p.model = ${model} AND p.id = ${key} AND p.revoked_at IS NULL
      AND (p.expires_at IS NULL OR p.expires_at > ${now})
      -- A token saved while its grant was being ended (a rotation racing a replay) outlives it.
      AND EXISTS (SELECT 1 FROM oidc_payloads g WHERE g.model = 'Grant' AND g.id = p.grant_id)`;
  return row;
}

/**
 * Every grant of an account, whatever stage it is at: consented only, an authorization code not
 * yet exchanged (no OAuth 2.0 session exists for it yet), or tokens issued.
 */
export async function grantIdsOfAccount(db: Db, userId: string): Promise<string[]> {
  const rows = await db<{ grant_id: string }[]>`
    SELECT DISTINCT CASE WHEN model = 'Grant' THEN id ELSE grant_id END AS grant_id
    FROM oidc_payloads
    WHERE account_id = ${userId} AND (model = 'Grant' OR grant_id IS NOT NULL)`;
  return rows.map((r) => r.grant_id);
}

/**
 * Forgets oidc-provider's sign-in sessions of an account: an authorization already under way in
 * a browser of that account can no longer finish (oidc-provider checks the session it started with).
 */
export async function deleteProviderSessionsOfAccount(db: Db, userId: string): Promise<void> {
  await db`DELETE FROM oidc_payloads WHERE model = 'Session' AND account_id = ${userId}`;
}

/** Forgets rows that expired more than a day before `now`; returns how many. */
export async function pruneExpired(db: Db, now: Date): Promise<number> {
  const rows = await db`DELETE FROM oidc_payloads WHERE expires_at < ${now}::timestamptz - interval '1 day' RETURNING 1`;
  return rows.length;
}

// --- clients (`mauth config sync`) ---

/** How many grants each client holds, by client id. */
export async function grantCountsByClient(db: Db): Promise<Map<string, number>> {
  const rows = await db<{ client_id: string; grants: number }[]>`
    SELECT payload->>'clientId' AS client_id, count(*)::int AS grants
    FROM oidc_payloads WHERE model = 'Grant' AND payload ? 'clientId'
    GROUP BY 1`;
  return new Map(rows.map((r) => [r.client_id, r.grants]));
}

/** Those of `clientIds` that are registered clients (dynamic client registration). */
export async function registeredClientIds(db: Db, clientIds: string[]): Promise<string[]> {
  const rows = await db<{ id: string }[]>`SELECT id FROM oidc_payloads WHERE model = 'Client' AND id = ANY(${clientIds})`;
  return rows.map((r) => r.id);
}

/** Live client_credentials tokens (they have no grant) by client id. */
export async function clientCredentialsCountsByClient(db: Db, now: Date): Promise<Map<string, number>> {
  const rows = await db<{ client_id: string; tokens: number }[]>`
    SELECT payload->>'clientId' AS client_id, count(*)::int AS tokens
    FROM oidc_payloads
    WHERE model = 'ClientCredentials' AND payload ? 'clientId' AND consumed_at IS NULL
      AND (expires_at IS NULL OR expires_at > ${now})
    GROUP BY 1`;
  return new Map(rows.map((r) => [r.client_id, r.tokens]));
}

/** Forgets every client_credentials token of the client; returns how many there were. */
export async function deleteClientCredentialsOfClient(db: Db, clientId: string): Promise<number> {
  const rows = await db`DELETE FROM oidc_payloads WHERE model = 'ClientCredentials' AND payload->>'clientId' = ${clientId} RETURNING 1`;
  return rows.length;
}

export async function grantIdsOfClient(db: Db, clientId: string): Promise<string[]> {
  const rows = await db<{ id: string }[]>`SELECT id FROM oidc_payloads WHERE model = 'Grant' AND payload->>'clientId' = ${clientId}`;
  return rows.map((r) => r.id);
}
