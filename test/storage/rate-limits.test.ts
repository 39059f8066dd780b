// Buckets live in PostgreSQL, so instances share them: two pools stand for two Mauth processes.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import postgres from 'postgres';
import { take } from '../../src/storage/rate-limits.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { TEST_DATABASE_URL } from '../support/database.js';

let db: TestDatabase;
let other: postgres.Sql;

before(async () => {
  db = await createTestDatabase('limits');
  other = postgres(TEST_DATABASE_URL, { max: 5, onnotice: () => {}, connection: { search_path: db.schema } });
});
after(async () => {
  await other.end();
  await db.close();
});

test('two instances drawing from one bucket at once get exactly its burst between them', async () => {
  const results = await Promise.all(
    Array.from({ length: 20 }, (_, i) => take(i % 2 ? db.sql : other, 'login:ip:203.0.113.9', 5, 0.0001)),
  );
  assert.equal(results.filter((r) => r.allowed).length, 5);
  for (const refused of results.filter((r) => !r.allowed)) assert.ok(refused.retryAfterMs > 0);
});

test('a bucket refills at its rate', async () => {
  assert.equal((await take(db.sql, 'refill', 1, 50)).allowed, true);
  assert.equal((await take(db.sql, 'refill', 1, 50)).allowed, false);
  await new Promise((r) => setTimeout(r, 60));
  assert.equal((await take(other, 'refill', 1, 50)).allowed, true);
});
