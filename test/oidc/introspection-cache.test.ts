// The introspection cache's trust in its LISTEN connection, against a real PostgreSQL reached
// through a TCP relay of this file: the relay can go silent (it stops passing bytes of the
// connections it holds, closing nothing: a half-open TCP connection, a stuck middlebox) or keep
// the connection up but drop every notification (a LISTEN that "succeeds" and hears nothing, as
// behind a transaction-pooling PgBouncer). In both cases no close is ever seen, so only a round
// trip of the cache's own (a notification sent through the request pool must come back on the
// listener) can tell; until it does, the cache must not be used.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { after, before, test } from 'node:test';
import { pino } from 'pino';
import type { DatabaseConfig } from '../../src/config/types.js';
import { IntrospectionCache, type ActiveToken } from '../../src/oidc/introspection-cache.js';
import { INVALIDATION_CHANNEL } from '../../src/storage/invalidations.js';
import { createTestDatabase, TEST_DATABASE_URL, type TestDatabase } from '../support/database.js';

type Mode = 'pass' | 'silent' | 'drop-notifications';

/** A relay to the test PostgreSQL whose behaviour can be changed while connections are open. */
async function startRelay(target: URL) {
  let mode: Mode = 'pass';
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(Number(target.port || 5432), target.hostname);
    sockets.add(client);
    sockets.add(upstream);
    for (const s of [client, upstream]) {
      s.on('error', () => {});
      s.on('close', () => {
        sockets.delete(s);
        // In silent mode nothing is passed on, a close neither.
        if (mode !== 'silent') (s === client ? upstream : client).destroy();
      });
    }
    client.on('data', (chunk) => {
      if (mode !== 'silent') upstream.write(chunk);
    });
    // Server messages are typed (1 byte) and sized (4 bytes, counting themselves): whole ones
    // are passed on, NotificationResponse ('A') dropped in that mode.
    let pending = Buffer.alloc(0);
    upstream.on('data', (chunk: Buffer) => {
      if (mode === 'silent') return;
      pending = Buffer.concat([pending, chunk]);
      const out: Buffer[] = [];
      while (pending.length >= 5) {
        const size = 1 + pending.readUInt32BE(1);
        if (pending.length < size) break;
        const message = pending.subarray(0, size);
        pending = pending.subarray(size);
        if (!(mode === 'drop-notifications' && message[0] === 0x41)) out.push(message);
      }
      if (out.length) client.write(Buffer.concat(out));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    set mode(value: Mode) {
      mode = value;
    },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise((r) => server.close(r));
    },
  };
}

let db: TestDatabase;
let relay: Awaited<ReturnType<typeof startRelay>>;
const caches: IntrospectionCache[] = [];
const target = new URL(TEST_DATABASE_URL);

before(async () => {
  db = await createTestDatabase('icache');
  relay = await startRelay(target);
});

after(async () => {
  await Promise.all(caches.map((c) => c.close()));
  await relay?.close();
  await db?.close();
});

function relayedConfig(): DatabaseConfig {
  return {
    host: '127.0.0.1',
    port: relay.port,
    username: decodeURIComponent(target.username) || 'postgres',
    database: target.pathname.slice(1),
    ssl_mode: 'disable',
    max_connections: 1,
    min_connections: 0,
    connect_timeout: 5,
    idle_timeout: 0,
    max_lifetime: 0,
    statement_timeout: 10,
    lock_timeout: 5,
    request_deadline: 15,
    embedded_path: './unused',
  } as DatabaseConfig;
}

async function startCache(): Promise<IntrospectionCache> {
  const cache = await IntrospectionCache.start(relayedConfig(), {
    // A lifetime far beyond the test: only invalidations, or not using the cache, can end an answer.
    ttlSeconds: 60,
    maxEntries: 100,
    log: pino({ level: 'silent' }),
    sql: db.sql,
    heartbeatMs: 50,
    confirmTimeoutMs: 500,
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
