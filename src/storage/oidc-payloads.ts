// oidc-provider's stored models (`oidc_payloads`): every statement on that table lives here and,
// for the rotation of refresh tokens, in refresh-tokens.ts beside it. The adapter in oidc/ decides
// what a model's key is (bearer secrets are stored as their SHA-256) and what the payload holds;
// this module reads and writes rows by that key. Expiry (`expires_at`) is written and compared
// with the caller's clock.
import type postgres from 'postgres';
import type { Db, Sql, Tx } from './db.js';
import { lockGrantRefreshes } from './refresh-tokens.js';

export interface PayloadRow {
  payload: Record<string, unknown>;
  consumed_at: Date | null;
}

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

/** A grant and everything issued under it; `ended` runs in the same transaction. */
export async function destroyGrant(sql: Sql, grantId: string, ended?: (tx: Tx) => Promise<void>): Promise<void> {
  await sql.begin((tx) => destroyGrantWithin(tx, grantId, ended));
}

/** `destroyGrant` in the caller's transaction. */
export async function destroyGrantWithin(tx: Tx, grantId: string, ended?: (tx: Tx) => Promise<void>): Promise<void> {
  await lockGrantRefreshes(tx, grantId);
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
