// Which real database failures count as "unavailable, try again" (503) and which do not (500),
// and that the serving pool carries statement_timeout and lock_timeout while others do not.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import postgres from 'postgres';
import type { DatabaseConfig } from '../../src/config/types.js';
import { connect } from '../../src/storage/db.js';
import { databaseUnavailable } from '../../src/storage/db-errors.js';
import { createTestDatabase, TEST_DATABASE_URL, testDatabaseSection, type TestDatabase } from '../support/database.js';
import { freePort } from '../support/mauth-process.js';

let db: TestDatabase;

before(async () => {
  db = await createTestDatabase('dberr');
  await db.sql`CREATE TABLE held (id int)`;
});

after(async () => {
  await db?.close();
});

async function failure(run: (sql: postgres.Sql) => Promise<unknown>, options: postgres.Options<{}> = {}): Promise<unknown> {
  const sql = postgres(db.url, { max: 1, onnotice: () => {}, ...options });
  try {
    await run(sql);
  } catch (err) {
    return err;
  } finally {
    await sql.end({ timeout: 1 });
  }
  throw new Error('expected the query to fail');
}

test('a statement_timeout cancellation is unavailability', async () => {
  const err = await failure((sql) => sql`SELECT pg_sleep(5)`, { connection: { statement_timeout: 100 } });
  assert.match(databaseUnavailable(err) ?? '', /statement_timeout/);
});

test('a deadlock (one of two transactions aborted by PostgreSQL) is unavailability: retrying is safe', async () => {
  await db.sql`CREATE TABLE IF NOT EXISTS pair (id int PRIMARY KEY)`;
  await db.sql`INSERT INTO pair VALUES (1), (2) ON CONFLICT DO NOTHING`;
  const a = postgres(db.url, { max: 1, onnotice: () => {} });
  const b = postgres(db.url, { max: 1, onnotice: () => {} });
  let bothHoldOne!: () => void;
  let held = 0;
  const ready = new Promise<void>((resolve) => (bothHoldOne = resolve));
  const hold = () => {
    held += 1;
    if (held === 2) bothHoldOne();
    return ready;
  };
  // Each takes one row, then waits for the other's: PostgreSQL aborts one of them.
  const results = await Promise.allSettled([
    a.begin(async (t) => {
      await t`SELECT id FROM pair WHERE id = 1 FOR UPDATE`;
      await hold();
      await t`SELECT id FROM pair WHERE id = 2 FOR UPDATE`;
    }),
    b.begin(async (t) => {
      await t`SELECT id FROM pair WHERE id = 2 FOR UPDATE`;
      await hold();
      await t`SELECT id FROM pair WHERE id = 1 FOR UPDATE`;
    }),
  ]);
  await Promise.all([a.end(), b.end()]);
  const failed = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
  assert.equal(failed.length, 1, 'exactly one transaction was aborted');
  assert.equal((failed[0].reason as { code?: string }).code, '40P01');
  assert.match(databaseUnavailable(failed[0].reason) ?? '', /deadlock/);
});

test('a lock_timeout is unavailability', async () => {
  const holder = postgres(db.url, { max: 1, onnotice: () => {} });
  let release!: () => void;
  const held = new Promise<void>((resolve) => (release = resolve));
  let locked!: () => void;
  const isLocked = new Promise<void>((resolve) => (locked = resolve));
  const tx = holder.begin(async (t) => {
    await t`LOCK TABLE held IN ACCESS EXCLUSIVE MODE`;
    locked();
    await held;
  });
  await isLocked;
  try {
    const err = await failure((sql) => sql`SELECT * FROM held`, { connection: { lock_timeout: 100 } });
    assert.match(databaseUnavailable(err) ?? '', /lock_timeout/);
  } finally {
    release();
    await tx;
    await holder.end();
  }
});

test('a refused connection is unavailability, reported by postgres.js for the query', async () => {
  const url = new URL(TEST_DATABASE_URL);
  url.port = String(await freePort());
  const sql = postgres(url.href, { max: 1, onnotice: () => {}, connect_timeout: 2 });
  const err = await sql`SELECT 1`.then(
    () => undefined,
    (e: unknown) => e,
  );
  await sql.end({ timeout: 1 });
  assert.match(databaseUnavailable(err) ?? '', /unreachable \(ECONNREFUSED\)/);
  // Wrapped by the caller (a repository, a job) it still counts.
  assert.ok(databaseUnavailable(new Error('could not load the user', { cause: err })));
});

test('bugs and other services are not: a syntax error, a constraint, a refused HTTP call', async () => {
  assert.equal(databaseUnavailable(await failure((sql) => sql`SELEC 1`)), undefined);
  assert.equal(databaseUnavailable(await failure((sql) => sql`SELECT 1/0`)), undefined);
  const http = await fetch(`http://127.0.0.1:${await freePort()}/`).then(
    () => undefined,
    (e: unknown) => e,
  );
  assert.ok(http, 'expected the fetch to fail');
  assert.equal(databaseUnavailable(http), undefined);
  assert.equal(databaseUnavailable(undefined), undefined);
});

function serverConfig(): DatabaseConfig {
  return testDatabaseSection({ uri: db.url, statement_timeout: 7, lock_timeout: 3, ssl_mode: 'disable' });
}

test('the serving pool has statement_timeout and lock_timeout; a pool for migrations has neither', async () => {
  const bounded = await connect(serverConfig(), { bounded: true });
  const plain = await connect(serverConfig());
  try {
    const [b] = await bounded.sql<{ statement_timeout: string; lock_timeout: string }[]>`
      SELECT current_setting('statement_timeout') AS statement_timeout, current_setting('lock_timeout') AS lock_timeout`;
    assert.deepEqual(b, { statement_timeout: '7s', lock_timeout: '3s' });
    const [p] = await plain.sql<{ statement_timeout: string; lock_timeout: string }[]>`
      SELECT current_setting('statement_timeout') AS statement_timeout, current_setting('lock_timeout') AS lock_timeout`;
    assert.deepEqual(p, { statement_timeout: '0', lock_timeout: '0' });
  } finally {
    await bounded.close();
    await plain.close();
  }
});

test('the serving pool ends a transaction left idle as long as a statement may run; a pool for migrations does not', async () => {
  const bounded = await connect(serverConfig(), { bounded: true });
  const plain = await connect(serverConfig());
  try {
    const setting = (sql: postgres.Sql) =>
      sql<{ value: string }[]>`SELECT current_setting('idle_in_transaction_session_timeout') AS value`.then(([row]) => row.value);
    assert.equal(await setting(bounded.sql), '7s');
    assert.equal(await setting(plain.sql), '0');
  } finally {
    await bounded.close();
    await plain.close();
  }
});

test('an idle-in-transaction timeout is unavailability', async () => {
  const err = await failure(
    (sql) =>
      sql.begin(async (tx) => {
        await tx`SELECT 1`;
        await new Promise((r) => setTimeout(r, 300));
        await tx`SELECT 1`;
      }),
    { connection: { idle_in_transaction_session_timeout: 100 } },
  );
  assert.ok(databaseUnavailable(err), `unavailable: ${String(err)}`);
});
