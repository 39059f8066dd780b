// Bulk loading for the migrations in (`mauth syn2mas migrate`, `mauth import-mas`). Rows are
// first staged, phase by phase, in temporary tables of one connection (one transaction per
// phase, rows streamed with COPY); then one transaction moves every staged table into its real table,
// in foreign-key order, and checks the result. Until that transaction commits, Mauth's tables are
// untouched: a failure anywhere, a crash or Ctrl-C included (temporary tables end with their
// connection), leaves them exactly as they were, and a second run starts clean.
//
// This module writes the tables of several owners, but only here and only this way: as rows
// already in their stored form (tokens hashed, payloads as the OIDC adapter stores them).
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Db, Sql, Tx } from './db.js';

/** Staged tables, in the order they are moved (parents first), with the columns written. */
export const STAGED_COLUMNS = {
  users: ['id', 'username', 'display_name', 'can_request_admin', 'locked_at', 'deactivated_at', 'created_at'],
  user_passwords: ['id', 'user_id', 'hashed_password', 'version', 'created_at'],
  user_emails: ['id', 'user_id', 'email', 'verified_at', 'created_at'],
  user_threepids: ['id', 'user_id', 'medium', 'address', 'created_at'],
  upstream_oauth_links: ['id', 'provider_id', 'subject', 'user_id', 'human_account_name', 'created_at'],
  browser_sessions: ['id', 'secret_hash', 'user_id', 'user_agent', 'ip_address', 'created_at', 'last_authenticated_at', 'finished_at', 'last_active_at'],
  user_registration_tokens: ['id', 'token_hash', 'usage_limit', 'times_used', 'created_at', 'last_used_at', 'expires_at', 'revoked_at'],
  compat_sessions: ['id', 'user_id', 'device_id', 'is_synapse_admin', 'user_agent', 'created_at', 'last_active_at', 'finished_at'],
  compat_access_tokens: ['id', 'session_id', 'token_hash', 'created_at', 'expires_at', 'revoked_at'],
  compat_refresh_tokens: ['id', 'session_id', 'token_hash', 'access_token_id', 'created_at', 'consumed_at', 'revoked_at'],
  oidc_payloads: ['model', 'id', 'payload', 'grant_id', 'account_id', 'expires_at', 'consumed_at', 'used_at', 'scope', 'created_at'],
  oauth2_sessions: ['id', 'grant_id', 'user_id', 'client_id', 'device_id', 'scope', 'created_at', 'last_active_at', 'finished_at'],
  personal_sessions: ['id', 'owner_user_id', 'owner_client_id', 'actor_user_id', 'human_name', 'scope', 'created_at', 'revoked_at', 'last_active_at'],
  personal_access_tokens: ['id', 'session_id', 'token_hash', 'created_at', 'expires_at', 'revoked_at'],
} as const;

export type StagedTable = keyof typeof STAGED_COLUMNS;
export type StagedRow<T extends StagedTable> = { [K in (typeof STAGED_COLUMNS)[T][number]]: unknown };

export const STAGED_TABLES = Object.keys(STAGED_COLUMNS) as StagedTable[];

/** Rows sent per COPY (a few MB of text at most). */
export const ROWS_PER_COPY = 10_000;

const staged = (table: StagedTable) => `mauth_import_${table}`;

/** Creates the (empty) staging tables on this connection; `sql` must be a single-connection pool. */
export async function createStaging(sql: Sql): Promise<void> {
  // Temporary tables live in the session's own buffers (8 MB by default, then the disk); a large
  // migration stages a few hundred MB. Only settable before the session touches a temporary table.
  await sql`SET temp_buffers = '256MB'`;
  for (const table of STAGED_TABLES) {
    await sql`DROP TABLE IF EXISTS pg_temp.${sql(staged(table))}`;
    // Same column types and defaults; no constraints or indexes: those are checked, once, when
    // the rows reach the real table.
    await sql`CREATE TEMPORARY TABLE ${sql(staged(table))} (LIKE ${sql(table)} INCLUDING DEFAULTS)`;
  }
}

/** One value in COPY's text format: \N for NULL; backslash, tab, newline and carriage return escaped. */
export function copyText(value: unknown): string {
  if (value === null || value === undefined) return '\\N';
  let text: string;
  if (value instanceof Date) text = value.toISOString();
  else if (typeof value === 'boolean') text = value ? 't' : 'f';
  else if (typeof value === 'object') text = JSON.stringify(value);
  else text = String(value);
  return text.replace(/[\\\t\n\r]/g, (c) => (c === '\\' ? '\\\\' : c === '\t' ? '\\t' : c === '\n' ? '\\n' : '\\r'));
}

/** Streams rows into a staging table with COPY (objects, as the jsonb payload, are written as JSON). */
export async function stageRows<T extends StagedTable>(db: Db, table: T, rows: StagedRow<T>[]): Promise<void> {
  if (rows.length === 0) return;
  const columns = STAGED_COLUMNS[table] as readonly string[];
  let text = '';
  for (const row of rows) {
    const record = row as Record<string, unknown>;
    text += `${columns.map((column) => copyText(record[column])).join('\t')}\n`;
  }
  const writable = await db`COPY ${db(staged(table))} (${db(columns as string[])}) FROM STDIN`.writable();
  await pipeline(Readable.from([text]), writable);
}

/**
 * Locks the tables written against concurrent writers (a server still running) and counts the
 * accounts already there. Run first in the moving transaction.
 */
export async function lockForImport(tx: Tx): Promise<number> {
  await tx`LOCK TABLE users, user_registration_tokens, oidc_payloads IN SHARE ROW EXCLUSIVE MODE`;
  const [{ count }] = await tx<{ count: number }[]>`SELECT count(*)::int AS count FROM users`;
  return count;
}

/**
 * Foreign keys, unique constraints no foreign key depends on, and plain indexes of tables about
 * to receive many rows, as the database describes them: dropped for the move (checked row by row
 * they cost more than the rows), and rebuilt after it, in the same transaction, by `resumeChecks`,
 * which checks every row at once. A violation then fails the rebuild and the whole move (as MAS's
 * syn2mas pauses constraints). Primary keys stay: other tables' keys point at them.
 */
export interface PausedChecks {
  constraints: { table: string; name: string; definition: string; kind: 'f' | 'u' }[];
  indexes: { name: string; definition: string }[];
}

export async function pauseChecks(tx: Tx, tables: StagedTable[]): Promise<PausedChecks> {
  if (tables.length === 0) return { constraints: [], indexes: [] };
  const constraints = await tx<PausedChecks['constraints']>`
    SELECT c.conrelid::regclass::text AS table, c.conname AS name, pg_get_constraintdef(c.oid) AS definition, c.contype AS kind
    FROM pg_constraint c
    WHERE c.conrelid = ANY(${tables}::text[]::regclass[])
      AND (c.contype = 'f' OR (c.contype = 'u' AND NOT EXISTS (
        SELECT 1 FROM pg_constraint r WHERE r.contype = 'f' AND r.conindid = c.conindid)))
    ORDER BY c.contype, c.conname`;
  const indexes = await tx<PausedChecks['indexes']>`
    SELECT i.indexrelid::regclass::text AS name, pg_get_indexdef(i.indexrelid) AS definition
    FROM pg_index i
    WHERE i.indrelid = ANY(${tables}::text[]::regclass[])
      AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)
    ORDER BY 1`;
  for (const c of constraints) await tx`ALTER TABLE ${tx.unsafe(c.table)} DROP CONSTRAINT ${tx(c.name)}`;
  for (const i of indexes) await tx`DROP INDEX ${tx.unsafe(i.name)}`;
  return { constraints, indexes };
}

/** Rebuilds what pauseChecks dropped, checking every row (definitions as the database gave them). */
export async function resumeChecks(tx: Tx, paused: PausedChecks): Promise<void> {
  for (const i of paused.indexes) await tx.unsafe(i.definition);
  for (const kind of ['u', 'f'] as const) {
    for (const c of paused.constraints.filter((x) => x.kind === kind)) {
      await tx`ALTER TABLE ${tx.unsafe(c.table)} ADD CONSTRAINT ${tx(c.name)} ${tx.unsafe(c.definition)}`;
    }
  }
}

/** Moves one staging table into its real table; returns how many rows it moved. */
export async function promote(tx: Tx, table: StagedTable): Promise<number> {
  const columns = STAGED_COLUMNS[table] as readonly string[];
  const moved = await tx`
    INSERT INTO ${tx(table)} (${tx(columns as string[])})
    SELECT ${tx(columns as string[])} FROM ${tx(staged(table))}`;
  return moved.count;
}

export async function stagedCounts(db: Db): Promise<Record<StagedTable, number>> {
  const out = {} as Record<StagedTable, number>;
  for (const table of STAGED_TABLES) {
    const [{ count }] = await db<{ count: number }[]>`SELECT count(*)::int AS count FROM ${db(staged(table))}`;
    out[table] = count;
  }
  return out;
}

/** Rows in each of the real tables a migration writes (before and after it, and for --dry-run). */
export async function tableCounts(db: Db): Promise<Record<StagedTable, number>> {
  const out = {} as Record<StagedTable, number>;
  for (const table of STAGED_TABLES) {
    const [{ count }] = await db<{ count: number }[]>`SELECT count(*)::int AS count FROM ${db(table)}`;
    out[table] = count;
  }
  return out;
}

export interface ImportInvariants {
  /** Live legacy or OAuth 2.0 sessions of a deactivated account (must be none). */
  liveSessionsOfDeactivated: number;
  /** Refresh tokens whose access token belongs to another session (must be none). */
  crossedRefreshTokens: number;
  /** OAuth 2.0 sessions without their grant, or tokens without their grant (must be none). */
  orphanedGrants: number;
}

/** What must hold after the move, whatever the source: checked before the transaction commits. */
export async function importInvariants(db: Db): Promise<ImportInvariants> {
  const [row] = await db<ImportInvariants[]>`
    SELECT
      (SELECT count(*)::int FROM users u WHERE u.deactivated_at IS NOT NULL AND (
         EXISTS (SELECT 1 FROM compat_sessions s WHERE s.user_id = u.id AND s.finished_at IS NULL)
         OR EXISTS (SELECT 1 FROM oauth2_sessions s WHERE s.user_id = u.id AND s.finished_at IS NULL))) AS "liveSessionsOfDeactivated",
      (SELECT count(*)::int FROM compat_refresh_tokens r JOIN compat_access_tokens a ON a.id = r.access_token_id
        WHERE a.session_id <> r.session_id) AS "crossedRefreshTokens",
      (SELECT count(*)::int FROM oauth2_sessions s
        WHERE NOT EXISTS (SELECT 1 FROM oidc_payloads g WHERE g.model = 'Grant' AND g.id = s.grant_id))
      + (SELECT count(*)::int FROM oidc_payloads t
        WHERE t.model IN ('AccessToken', 'RefreshToken')
          AND NOT EXISTS (SELECT 1 FROM oidc_payloads g WHERE g.model = 'Grant' AND g.id = t.grant_id)) AS "orphanedGrants"`;
  return row;
}

/** Accounts in the database (a migration in refuses to run on top of existing ones). */
export async function countUsers(db: Db): Promise<number> {
  const [{ count }] = await db<{ count: number }[]>`SELECT count(*)::int AS count FROM users`;
  return count;
}
