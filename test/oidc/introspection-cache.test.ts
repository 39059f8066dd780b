// The introspection cache's trust in its LISTEN connection, against a real PostgreSQL reached
// through a TCP relay of this file: the relay can go silent (it stops passing bytes of the
// connections it holds, closing nothing: a half-open TCP connection, a stuck middlebox) or keep
// the connection up but drop every notification (a LISTEN that "succeeds" and hears nothing, as
// behind a transaction-pooling PgBouncer). In both cases no close is ever seen, so only a round
// trip of the cache's own (a notification sent through the request pool must come back on the
// listener) can tell; until it does, the cache must not be used.
// The relay can also hold notifications back: a change committed by this process is then known
// to it before its invalidation arrives, and the cache must not answer from what it held before
// (read-your-writes on the same instance).
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';
import { pino } from 'pino';
import type { DatabaseConfig } from '../../src/config/types.js';
import { IntrospectionCache, type ActiveToken } from '../../src/oidc/introspection-cache.js';
import { INVALIDATION_CHANNEL } from '../../src/storage/invalidations.js';
import { createTestDatabase, TEST_DATABASE_URL, testDatabaseSection, type TestDatabase } from '../support/database.js';
import { startPgRelay, type PgRelay } from '../support/pg-relay.js';

let db: TestDatabase;
let relay: PgRelay;
const caches: IntrospectionCache[] = [];
const target = new URL(TEST_DATABASE_URL);

before(async () => {
  db = await createTestDatabase('icache');
  relay = await startPgRelay(target);
});

after(async () => {
  await Promise.all(caches.map((c) => c.close()));
  await relay?.close();
  await db?.close();
});

function relayedConfig(): DatabaseConfig {
  return testDatabaseSection({
    host: '127.0.0.1',
    port: relay.port,
    username: decodeURIComponent(target.username) || 'postgres',
    database: target.pathname.slice(1),
    ssl_mode: 'disable',
  });
}

async function startCache(timing: { heartbeatMs: number; confirmTimeoutMs: number } = { heartbeatMs: 50, confirmTimeoutMs: 500 }): Promise<IntrospectionCache> {
  const cache = await IntrospectionCache.start(relayedConfig(), {
    // A lifetime far beyond the test: only invalidations, or not using the cache, can end an answer.
    ttlSeconds: 60,
    maxEntries: 100,
    log: pino({ level: 'silent' }),
    sql: db.sql,
    ...timing,
  });
  caches.push(cache);
  return cache;
}

async function waitUntil(what: string, check: () => boolean): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (!check()) {
    assert.ok(Date.now() < deadline, `${what} within 30 s`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const token = (): ActiveToken => ({ base: { active: true }, expiresAt: undefined, deps: ['user:u1'] });

/** Caches an answer for a fresh hash and checks it is served; returns the hash. */
function cacheOne(cache: IntrospectionCache): string {
  const hash = randomBytes(16).toString('hex');
  const now = new Date();
  cache.set(hash, token(), cache.begin(), now);
  assert.ok(cache.get(hash, now), 'the answer is served from the cache');
  return hash;
}

async function revoke(hash: string): Promise<void> {
  await db.sql`SELECT pg_notify(${INVALIDATION_CHANNEL}, ${`token:${hash}`})`;
}

test('a LISTEN connection gone silent (nothing closed) stops the cache from being used, and a new one brings it back', async () => {
  relay.mode = 'pass';
  const cache = await startCache();
  await waitUntil('the cache listens', () => cache.listening);
  const hash = cacheOne(cache);

  relay.mode = 'silent';
  // Committed, announced, and never heard of by the cache.
  await revoke(hash);
  await waitUntil('the silent connection is noticed and the cache no longer used', () => !cache.listening);
  assert.equal(cache.get(hash, new Date()), undefined, 'the revoked token is not answered from the cache');

  relay.mode = 'pass';
  await waitUntil('the cache listens again on a new connection', () => cache.listening);
  assert.equal(cache.get(hash, new Date()), undefined, 'listening again starts empty');
  const again = cacheOne(cache);
  await revoke(again);
  await waitUntil('an invalidation is heard again', () => cache.get(again, new Date()) === undefined);
});

test('a LISTEN that succeeds but hears no notification never turns the cache on', async () => {
  relay.mode = 'drop-notifications';
  const cache = await startCache();
  await waitUntil('several round trips went unheard', () => cache.snapshot().unheard >= 3);
  assert.equal(cache.listening, false, 'the cache is not used while notifications do not arrive');
  const now = new Date();
  const hash = randomBytes(16).toString('hex');
  cache.set(hash, token(), cache.begin(), now);
  assert.equal(cache.get(hash, now), undefined, 'nothing is stored or served');

  relay.mode = 'pass';
  await waitUntil('the cache listens once notifications come through', () => cache.listening);
  const again = cacheOne(cache);
  await revoke(again);
  await waitUntil('an invalidation is heard', () => cache.get(again, new Date()) === undefined);
});

test('after a change made by this process, the cache answers nothing it held until the change is heard, however late its invalidation comes', async () => {
  relay.mode = 'pass';
  // No heartbeat or round trip may run out while notifications are held: only the change is tested.
  const cache = await startCache({ heartbeatMs: 600_000, confirmTimeoutMs: 600_000 });
  await waitUntil('the cache listens', () => cache.listening);
  const revoked = cacheOne(cache);
  const untouched = cacheOne(cache);
  // A lookup of the revoked token that read the database before the change, and stores its answer after.
  const early = cache.begin();
  // A lookup that arrived before the change was reported (concurrent with it).
  const concurrent = cache.syncs.mark();

  relay.mode = 'hold-notifications';
  // The change commits through the pool (as a trigger would announce it), and its answer is about to leave.
  await revoke(revoked);
  cache.syncAfterWrite();
  const mark = cache.syncs.mark();
  const waiting = cache.syncs.wait(mark);
  assert.ok(waiting, 'a lookup arriving now waits for the change to be heard');
  // Held back for good: the wait gives up (after syncWaitMs) and the lookup goes to the database.
  await waiting;
  assert.equal(cache.get(revoked, new Date(), mark), undefined, 'the revoked token is not answered from the cache');
  assert.equal(cache.get(untouched, new Date(), mark), undefined, 'no answer comes from the cache until the change is heard');
  cache.set(revoked, token(), early, new Date());
  assert.equal(cache.get(revoked, new Date(), mark), undefined, 'an answer read before the change is not served either');
  assert.ok(cache.get(untouched, new Date(), concurrent), 'a lookup that arrived before the change is not held up by it');
  assert.equal(cache.listening, true, 'the listener still counts as hearing');

  const next = cache.syncs.mark();
  relay.release();
  await waitUntil('the change is heard', () => cache.syncs.heardUpTo(next));
  assert.equal(cache.syncs.wait(next), undefined, 'a lookup arriving now does not wait');
  assert.ok(cache.get(untouched, new Date(), next), 'the cache is used again');
  assert.equal(cache.get(revoked, new Date(), next), undefined, 'the revoked token stays out of the cache');
  assert.ok(cache.snapshot().bypassed >= 3, 'the lookups during the change went to the database');
});

test('a change whose sync never comes back counts as a lost listener', async () => {
  relay.mode = 'pass';
  // The heartbeat would notice too, much later: only the sync after the change can be what does.
  const cache = await startCache({ heartbeatMs: 600_000, confirmTimeoutMs: 500 });
  await waitUntil('the cache listens', () => cache.listening);
  const hash = cacheOne(cache);

  relay.mode = 'drop-notifications';
  await revoke(hash);
  cache.syncAfterWrite();
  await waitUntil('the unheard sync is noticed and the cache no longer used', () => !cache.listening);
  assert.equal(cache.snapshot().losses, 1);
  assert.ok(cache.snapshot().unheard >= 1);
  assert.equal(cache.get(hash, new Date()), undefined);

  relay.mode = 'pass';
  await waitUntil('the cache listens again', () => cache.listening);
  assert.equal(cache.get(hash, new Date()), undefined, 'listening again starts empty');
  const again = cacheOne(cache);
  cache.syncAfterWrite();
  await waitUntil('a sync is heard again and the cache used', () => cache.get(again, new Date()) !== undefined);
});
