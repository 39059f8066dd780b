// Reading a Synapse database for `mauth syn2mas` (the tables and columns MAS's syn2mas reads).
// The connection is read-only (default_transaction_read_only), and a migration reads everything
// in one REPEATABLE READ snapshot. Synapse stores booleans as 0/1 smallints in older columns and
// times as epoch milliseconds (seconds for users.creation_ts); they are turned into booleans and
// timestamps here.
import postgres from 'postgres';
import type { Db, Sql, Tx } from './db.js';

export interface SourceTarget {
  uri?: string;
  host?: string;
  port?: number;
  user?: string;
  password?: string;
  database?: string;
}

/** A read-only connection to another database (Synapse's or MAS's). */
export function openReadOnly(target: SourceTarget, applicationName: string): Sql {
  const options = {
    max: 2,
    onnotice: () => {},
    connect_timeout: 10,
    connection: { application_name: applicationName, default_transaction_read_only: true },
  } satisfies postgres.Options<Record<string, postgres.PostgresType>>;
  if (target.uri) return postgres(target.uri, options);
  return postgres({ ...options, host: target.host, port: target.port, username: target.user, password: target.password, database: target.database });
}

const LOCKED_TABLES = ['users', 'user_threepids', 'user_external_ids', 'devices', 'access_tokens', 'refresh_tokens'];

/**
 * Runs `read` in one consistent snapshot. With `exclusive`, Synapse's tables are locked against
 * writes for as long (NOWAIT: a Synapse still writing makes this fail at once, as with MAS's
 * syn2mas); otherwise (a dry run beside a running Synapse) only shared locks are taken.
 */
export async function snapshot<T>(sql: Sql, exclusive: boolean, read: (tx: Tx) => Promise<T>): Promise<T> {
  return (await sql.begin('isolation level repeatable read read only', async (tx) => {
    await tx`LOCK TABLE ${tx(LOCKED_TABLES)} IN ${tx.unsafe(exclusive ? 'EXCLUSIVE' : 'ACCESS SHARE')} MODE NOWAIT`;
    await wholeTablePlans(tx);
    return read(tx);
  })) as T;
}

/**
 * Cursors are planned for their first rows by default (cursor_tuple_fraction 0.1), which turns
 * the joins of a full read into nested loops; every row is read here.
 */
export async function wholeTablePlans(tx: Tx): Promise<void> {
  await tx`SET LOCAL cursor_tuple_fraction = 1`;
}

export interface SynapseUser {
  name: string;
  password_hash: string | null;
  admin: boolean;
  deactivated: boolean;
  locked: boolean;
  is_guest: boolean;
  appservice_id: string | null;
  created_at: Date | null;
}

export interface SynapseThreepid {
  user_id: string;
  medium: string;
  address: string;
  validated_at: Date | null;
  added_at: Date | null;
}

export interface SynapseExternalId {
  user_id: string;
  auth_provider: string;
  external_id: string;
}

export interface SynapseDevice {
  user_id: string;
  device_id: string;
  last_seen: Date | null;
  user_agent: string | null;
}

export interface SynapseAccessToken {
  user_id: string;
  device_id: string | null;
  token: string;
  valid_until: Date | null;
  last_validated: Date | null;
}

export interface SynapseTokenPair {
  user_id: string;
  device_id: string;
  access_token: string;
  refresh_token: string;
  valid_until: Date | null;
  last_validated: Date | null;
}

const ms = (column: string) => `CASE WHEN ${column} IS NULL THEN NULL ELSE to_timestamp(${column} / 1000.0) END`;

export function readUsers(tx: Tx, batch: number): AsyncIterable<SynapseUser[]> {
  return tx<SynapseUser[]>`
    SELECT name, password_hash, admin <> 0 AS admin, deactivated <> 0 AS deactivated, locked, is_guest <> 0 AS is_guest,
           appservice_id, CASE WHEN creation_ts IS NULL THEN NULL ELSE to_timestamp(creation_ts) END AS created_at
    FROM users WHERE name IS NOT NULL`.cursor(batch);
}

export function readThreepids(tx: Tx, batch: number): AsyncIterable<SynapseThreepid[]> {
  return tx<SynapseThreepid[]>`
    SELECT user_id, medium, address, ${tx.unsafe(ms('validated_at'))} AS validated_at, ${tx.unsafe(ms('added_at'))} AS added_at
    FROM user_threepids`.cursor(batch);
}

export function readExternalIds(tx: Tx, batch: number): AsyncIterable<SynapseExternalId[]> {
  return tx<SynapseExternalId[]>`SELECT user_id, auth_provider, external_id FROM user_external_ids`.cursor(batch);
}

/** Devices a user sees, without the hidden ones (cross-signing keys) and guests' shared device. */
export function readDevices(tx: Tx, batch: number): AsyncIterable<SynapseDevice[]> {
  return tx<SynapseDevice[]>`
    SELECT user_id, device_id, ${tx.unsafe(ms('last_seen'))} AS last_seen, user_agent
    FROM devices WHERE NOT coalesce(hidden, false) AND device_id <> 'guest_device'`.cursor(batch);
}

/** Access tokens without a refresh token, not puppeting anyone, of an existing device or of none. */
export function readAccessTokens(tx: Tx, batch: number): AsyncIterable<SynapseAccessToken[]> {
  return tx<SynapseAccessToken[]>`
    SELECT t.user_id, t.device_id, t.token, ${tx.unsafe(ms('t.valid_until_ms'))} AS valid_until, ${tx.unsafe(ms('t.last_validated'))} AS last_validated
    FROM access_tokens t
    WHERE t.puppets_user_id IS NULL AND t.refresh_token_id IS NULL
      AND (t.device_id IS NULL OR EXISTS (SELECT 1 FROM devices d WHERE d.user_id = t.user_id AND d.device_id = t.device_id))`.cursor(batch);
}

/**
 * Access tokens with their refresh token, of existing devices, except pairs already replaced: the
 * refresh token was used and the access token it gave has been used since.
 */
export function readTokenPairs(tx: Tx, batch: number): AsyncIterable<SynapseTokenPair[]> {
  return tx<SynapseTokenPair[]>`
    SELECT r.user_id, r.device_id, a.token AS access_token, r.token AS refresh_token,
           ${tx.unsafe(ms('a.valid_until_ms'))} AS valid_until, ${tx.unsafe(ms('a.last_validated'))} AS last_validated
    FROM refresh_tokens r
    JOIN devices d ON d.user_id = r.user_id AND d.device_id = r.device_id
    JOIN access_tokens a ON a.refresh_token_id = r.id AND a.user_id = r.user_id AND a.device_id = r.device_id
    LEFT JOIN access_tokens n ON n.refresh_token_id = r.next_token_id
    WHERE n.used IS NULL OR NOT n.used`.cursor(batch);
}

/** Approximate row counts (the planner's), for progress; 0 when the table was never analysed. */
export async function estimatedCounts(db: Db): Promise<Record<string, number>> {
  const rows = await db<{ table: string; estimate: number }[]>`
    SELECT relname AS table, greatest(reltuples, 0)::float8 AS estimate FROM pg_class
    WHERE relkind = 'r' AND oid IN (SELECT to_regclass(t)::oid FROM unnest(${LOCKED_TABLES}::text[]) t)`;
  return Object.fromEntries(rows.map((r) => [r.table, Math.round(r.estimate)]));
}

// --- what `syn2mas check` looks at ---

export interface SynapseFacts {
  users: number;
  guests: number;
  appserviceUsers: number;
  usersWithPassword: number;
  /** Users of another server, or whose name is not `@localpart:server`. */
  foreignUsers: number;
  /** Local parts with upper-case letters (Mauth's usernames are lower-case). */
  upperCaseUsers: number;
  lastSeen: Date | null;
  externalIds: { auth_provider: string; count: number }[];
}

export async function facts(db: Db, serverName: string): Promise<SynapseFacts> {
  const [row] = await db<Omit<SynapseFacts, 'externalIds'>[]>`
    SELECT count(*)::int AS users,
           count(*) FILTER (WHERE is_guest <> 0)::int AS guests,
           count(*) FILTER (WHERE appservice_id IS NOT NULL)::int AS "appserviceUsers",
           count(*) FILTER (WHERE password_hash IS NOT NULL AND password_hash <> '' AND appservice_id IS NULL AND is_guest = 0)::int AS "usersWithPassword",
           count(*) FILTER (WHERE name NOT LIKE '@%' OR right(name, ${serverName.length + 1}) <> ${`:${serverName}`})::int AS "foreignUsers",
           count(*) FILTER (WHERE appservice_id IS NULL AND name <> lower(name))::int AS "upperCaseUsers",
           (SELECT ${db.unsafe(ms('max(last_seen)'))} FROM devices) AS "lastSeen"
    FROM users WHERE name IS NOT NULL`;
  const externalIds = await db<{ auth_provider: string; count: number }[]>`
    SELECT auth_provider, count(*)::int AS count FROM user_external_ids GROUP BY auth_provider ORDER BY auth_provider`;
  return { ...row, externalIds };
}
