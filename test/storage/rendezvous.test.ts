// Rendezvous sessions in PostgreSQL: two pools stand for two Mauth instances writing at once.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import postgres from 'postgres';
import { pruneExpired as pruneAll } from '../../src/storage/cleanup.js';
import { createSession, deleteSession, findLiveSession, pruneExpired, replaceIfCurrent } from '../../src/storage/rendezvous.js';
import { createTestDatabase, TEST_DATABASE_URL, type TestDatabase } from '../support/database.js';

let db: TestDatabase;
let other: postgres.Sql;
const T0 = new Date('2026-03-01T12:00:00Z');
const at = (seconds: number) => new Date(T0.getTime() + seconds * 1000);
let keys = 0;

before(async () => {
  db = await createTestDatabase('rendezvous');
  other = postgres(TEST_DATABASE_URL, { max: 5, onnotice: () => {}, connection: { search_path: db.schema } });
});
after(async () => {
  await other.end();
  await db.close();
});

async function open(protocol: 'msc4108' | 'msc4388' = 'msc4108', now = T0, ttl = 60, max = 1000) {
  const idHash = `key-${(keys += 1)}`;
  const result = await createSession(db.sql, { idHash, protocol, data: Buffer.from('first'), version: 'v1', now, expiresAt: new Date(now.getTime() + ttl * 1000) }, max);
  assert.equal(result.created, true);
  return idHash;
}

test('of two instances writing over the same version at once, exactly one write lands', async () => {
  const idHash = await open();
  const writes = await Promise.all(
    Array.from({ length: 10 }, (_, i) =>
      replaceIfCurrent(i % 2 ? db.sql : other, { idHash, protocol: 'msc4108', now: at(1), expected: ['v1'], data: Buffer.from(`w${i}`), version: `v2-${i}` }),
    ),
  );
  const landed = writes.filter((w) => w !== undefined);
  assert.equal(landed.length, 1);
  assert.equal(landed[0]!.previous_version, 'v1');
  const stored = await findLiveSession(db.sql, idHash, 'msc4108', at(2));
  assert.equal(stored?.version, landed[0]!.version);
  assert.equal(stored?.updated_at.getTime(), at(1).getTime());
});

test('a write expecting any version lands; one expecting none of the current versions does not', async () => {
  const idHash = await open();
  assert.equal(await replaceIfCurrent(db.sql, { idHash, protocol: 'msc4108', now: at(1), expected: [], data: Buffer.from('x'), version: 'v2' }), undefined);
  assert.equal(await replaceIfCurrent(db.sql, { idHash, protocol: 'msc4108', now: at(1), expected: ['v0', 'v9'], data: Buffer.from('x'), version: 'v2' }), undefined);
  assert.equal((await replaceIfCurrent(db.sql, { idHash, protocol: 'msc4108', now: at(1), expected: 'any', data: Buffer.from('x'), version: 'v2' }))?.version, 'v2');
});

test('a session is invisible to the other protocol and once expired, and cannot be written then', async () => {
  const idHash = await open('msc4388', T0, 120);
  assert.equal(await findLiveSession(db.sql, idHash, 'msc4108', at(1)), undefined);
  assert.equal((await findLiveSession(db.sql, idHash, 'msc4388', at(119)))?.data.toString(), 'first');
  assert.equal(await findLiveSession(db.sql, idHash, 'msc4388', at(120)), undefined);
  assert.equal(await replaceIfCurrent(db.sql, { idHash, protocol: 'msc4388', now: at(120), expected: ['v1'], data: Buffer.from('x'), version: 'v2' }), undefined);
  assert.equal(await deleteSession(db.sql, idHash, 'msc4388', at(120)), false);
});

test('instances creating at once never exceed the cap between them', async () => {
  const now = at(10_000);
  const results = await Promise.all(
    Array.from({ length: 12 }, (_, i) =>
      createSession(i % 2 ? db.sql : other, { idHash: `cap-${i}`, protocol: 'msc4108', data: Buffer.from('x'), version: 'v', now, expiresAt: at(10_060) }, 5),
    ),
  );
  assert.equal(results.filter((r) => r.created).length, 5);
  for (const refused of results.filter((r) => !r.created)) {
    assert.deepEqual(refused, { created: false, live: 5, nextExpiry: at(10_060) });
  }
});

test('expired sessions are pruned: a few by each creation, all by the periodic cleanup', async () => {
  const now = at(20_000);
  for (let i = 0; i < 20; i += 1) await open('msc4108', now, 60);
  const count = async () => (await db.sql<{ n: number }[]>`SELECT count(*)::int AS n FROM rendezvous_sessions WHERE expires_at <= ${at(20_100)}`)[0]!.n;
  const before = await count();
  await open('msc4108', at(20_100), 60);
  assert.equal(await count(), before - 16);
  assert.equal((await pruneAll(db.sql, at(20_100))).rendezvous_sessions, before - 16);
  assert.equal(await count(), 0);
  assert.equal(await pruneExpired(db.sql, at(20_100)), 0);
});
