// Each test file gets a schema of its own in the shared `test` database, created fresh and
// migrated; `TEST_DATABASE_URL` overrides the server (default: the local trust-auth PostgreSQL).
import { randomBytes } from 'node:crypto';
import postgres from 'postgres';
import { migrate } from '../../src/storage/migrate.js';
import type { DatabaseConfig } from '../../src/config/types.js';
import type { Sql } from '../../src/storage/db.js';
import * as upstream from '../../src/storage/upstream.js';

export const TEST_DATABASE_URL = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

export interface TestDatabase {
  sql: Sql;
  schema: string;
  url: string;
  close(): Promise<void>;
}

export async function createTestDatabase(prefix = 't'): Promise<TestDatabase> {
  const schema = `${prefix}_${randomBytes(6).toString('hex')}`;
  const admin = postgres(TEST_DATABASE_URL, { max: 1, onnotice: () => {} });
  await admin.unsafe(`CREATE SCHEMA "${schema}"`);
  await admin.end();
  const sql = postgres(TEST_DATABASE_URL, {
    max: 10,
    onnotice: () => {},
    connection: { search_path: schema },
    transform: { undefined: null },
  });
  await migrate(sql);
  const url = `${TEST_DATABASE_URL}${TEST_DATABASE_URL.includes('?') ? '&' : '?'}options=${encodeURIComponent(`-c search_path=${schema}`)}`;
  return {
    sql,
    schema,
    url,
    async close() {
      await sql.unsafe(`DROP SCHEMA "${schema}" CASCADE`);
      await sql.end({ timeout: 5 });
    },
  };
}

/** Stores an enabled upstream provider row with no secrets, for tests that link accounts to it. */
export async function seedUpstreamProvider(sql: Sql, id: string): Promise<void> {
  await upstream.upsertProvider(sql, {
    id,
    issuer: 'https://idp.test',
    humanName: null,
    brandName: null,
    synapseIdpId: null,
    config: {},
    encryptedClientSecret: null,
    encryptedPrivateKey: null,
    uiOrder: 0,
    enabled: true,
  });
}

/**
 * A `database` configuration section for tests that open Mauth's own pool (`connect`): one
 * connection, no idle or lifetime limits, the defaults' timeouts; `fields` set where to connect
 * (a `uri`, or `host`/`port`/…) and anything a test changes.
 */
export function testDatabaseSection(fields: Partial<DatabaseConfig>): DatabaseConfig {
  return {
    max_connections: 1,
    min_connections: 0,
    connect_timeout: 5,
    idle_timeout: 0,
    max_lifetime: 0,
    statement_timeout: 10,
    lock_timeout: 5,
    request_deadline: 15,
    job_lease: 30,
    embedded_path: './unused',
    ...fields,
  } as DatabaseConfig;
}
