// The job queue and worker against a real PostgreSQL, and the homeserver jobs against the double.
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, beforeEach, describe, test } from 'node:test';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { FixedClock, secondsAfter, systemRandomness } from '../../src/clock.js';
import type { HomeserverConnection } from '../../src/homeserver/connection.js';
import { createHomeserverConnection } from '../../src/homeserver/index.js';
import {
  enqueueDeleteDevice,
  enqueueEndUserSessions,
  enqueueProvisionUser,
  enqueueSyncDevices,
  homeserverJobHandlers,
} from '../../src/jobs/homeserver-jobs.js';
import { PermanentJobError, Worker, defaultBackoff, type JobHandler, type WorkerOptions } from '../../src/jobs/worker.js';
import * as compat from '../../src/storage/compat.js';
import * as jobs from '../../src/storage/jobs.js';
import * as sessions from '../../src/storage/oauth2-sessions.js';
import * as users from '../../src/storage/users.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { startHomeserverDouble, type HomeserverDouble } from '../support/homeserver-double.js';

const log = pino({ level: 'silent' });
let db: TestDatabase;
let workers: Worker[] = [];
/**
 * The workers' clock, a minute ahead of the database's: a job is due by whichever is later (see
 * storage/jobs.ts), so this clock alone decides, and tests move it instead of waiting.
 */
let clock: FixedClock;

function worker(handlers: Record<string, JobHandler>, options: Partial<WorkerOptions> = {}): Worker {
  const w = new Worker({ sql: db.sql, handlers, log, listen: false, registry: new Registry(), clock, random: systemRandomness, ...options });
  workers.push(w);
  return w;
}

async function job(id: string): Promise<jobs.Job> {
  const row = await jobs.findById(db.sql, id);
  assert.ok(row, `job ${id} exists`);
  return row;
}

async function counterValue(registry: Registry, kind: string, outcome: string): Promise<number> {
  const metric = registry.getSingleMetric('mauth_jobs_total');
  assert.ok(metric, 'mauth_jobs_total is registered');
  const { values } = await metric.get();
  return values.find((v) => v.labels.kind === kind && v.labels.outcome === outcome)?.value ?? 0;
}

async function until(condition: () => Promise<boolean> | boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) assert.fail(`condition not met within ${timeoutMs} ms`);
    await sleep(10);
  }
}

before(async () => {
  db = await createTestDatabase('jobs');
});

after(async () => {
  await db.close();
});

beforeEach(async () => {
  clock = new FixedClock(Date.now() + 60_000);
  await Promise.all(workers.map((w) => w.stop()));
  workers = [];
  await db.sql`DELETE FROM jobs`;
});

describe('job queue', () => {
  test('a job enqueued in a transaction that rolls back does not exist', async () => {
    await assert.rejects(
      db.sql.begin(async (tx) => {
        await jobs.enqueue(tx, 'noop', { a: 1 });
        throw new Error('roll back');
      }),
      /roll back/,
    );
    const [{ count }] = await db.sql<{ count: number }[]>`SELECT count(*)::int AS count FROM jobs`;
    assert.equal(count, 0);
    assert.equal(await worker({ noop: async () => {} }).runOnce(), 0);
  });

  test('a committed job runs once with its payload and is marked done', async () => {
    const seen: unknown[] = [];
    const registry = new Registry();
    const w = worker(
      {
        greet: async (payload, ctx) => {
          seen.push({ payload, attempt: ctx.attempt, kind: ctx.kind });
        },
      },
      { registry },
    );
    const id = await db.sql.begin((tx) => jobs.enqueue(tx, 'greet', { name: 'alice', nested: { n: [1, 2] } }));
    assert.equal(await w.runOnce(), 1);
    assert.deepEqual(seen, [{ payload: { name: 'alice', nested: { n: [1, 2] } }, attempt: 1, kind: 'greet' }]);
    const row = await job(id);
    assert.equal(row.status, 'done');
    assert.equal(row.attempts, 1);
    assert.ok(row.finished_at);
    assert.equal(row.locked_by, null);
    assert.equal(await w.runOnce(), 0, 'a done job is not run again');
    assert.equal(await counterValue(registry, 'greet', 'done'), 1);
  });

  test('a job scheduled for later waits for its time', async () => {
    const w = worker({ later: async () => {} });
    const id = await jobs.enqueue(db.sql, 'later', {}, { runAt: secondsAfter(clock.now(), 300) });
    assert.equal(await w.runOnce(), 0);
    clock.advance(299);
    assert.equal(await w.runOnce(), 0);
    clock.advance(1);
    assert.equal(await w.runOnce(), 1);
    assert.equal((await job(id)).status, 'done');
  });

  test('a handler failing twice then succeeding is retried with backoff: attempts 3, done', async () => {
    let calls = 0;
    const backoffs: number[] = [];
    const registry = new Registry();
    const w = worker(
      {
        flaky: async () => {
          calls += 1;
          if (calls < 3) throw new Error(`boom ${calls}`);
        },
      },
      {
        registry,
        backoff: (attempt) => {
          backoffs.push(attempt);
          return 200;
        },
      },
    );
    const id = await jobs.enqueue(db.sql, 'flaky', {});

    for (const attempt of [1, 2]) {
      assert.equal(await w.runOnce(), 1);
      const row = await job(id);
      assert.equal(row.status, 'pending');
      assert.equal(row.attempts, attempt);
      assert.equal(row.last_error, `Error: boom ${attempt}`);
      assert.equal(row.run_at.getTime(), clock.now().getTime() + 200, 'the retry is scheduled after its backoff');
      assert.equal(await w.runOnce(), 0, 'not retried before its backoff');
      clock.advance(0.2);
    }
    assert.equal(await w.runOnce(), 1);
    const row = await job(id);
    assert.equal(row.status, 'done');
    assert.equal(row.attempts, 3);
    assert.deepEqual(backoffs, [1, 2]);
    assert.equal(await counterValue(registry, 'flaky', 'retry'), 2);
    assert.equal(await counterValue(registry, 'flaky', 'done'), 1);
  });

  test('after max_attempts the job is failed with the last error', async () => {
    const registry = new Registry();
    const w = worker(
      {
        doomed: async (_payload, ctx) => {
          throw new Error(`always (attempt ${ctx.attempt} of ${ctx.maxAttempts})`);
        },
      },
      { registry, backoff: () => 0 },
    );
    const id = await jobs.enqueue(db.sql, 'doomed', {}, { maxAttempts: 3 });
    for (let i = 0; i < 3; i++) assert.equal(await w.runOnce(), 1);
    assert.equal(await w.runOnce(), 0);
    const row = await job(id);
    assert.equal(row.status, 'failed');
    assert.equal(row.attempts, 3);
    assert.equal(row.last_error, 'Error: always (attempt 3 of 3)');
    assert.ok(row.finished_at);
    assert.equal(await counterValue(registry, 'doomed', 'retry'), 2);
    assert.equal(await counterValue(registry, 'doomed', 'failed'), 1);
  });

  test('an unknown job kind, or a PermanentJobError, fails at once', async () => {
    const w = worker({ picky: async () => Promise.reject(new PermanentJobError('bad payload')) });
    const unknown = await jobs.enqueue(db.sql, 'mystery', {});
    const picky = await jobs.enqueue(db.sql, 'picky', {});
    assert.equal(await w.runOnce(), 2);
    const u = await job(unknown);
    assert.equal(u.status, 'failed');
    assert.equal(u.attempts, 1);
    assert.match(u.last_error ?? '', /no handler for job kind "mystery"/);
    const p = await job(picky);
    assert.equal(p.status, 'failed');
    assert.match(p.last_error ?? '', /bad payload/);
  });

  test('two workers racing over 50 jobs run each exactly once (SKIP LOCKED)', async () => {
    const runs = new Map<number, string[]>();
    const handlersFor = (name: string): Record<string, JobHandler> => ({
      race: async (payload: { n: number }) => {
        runs.set(payload.n, [...(runs.get(payload.n) ?? []), name]);
        await sleep(Math.random() * 5);
      },
    });
    await db.sql.begin(async (tx) => {
      for (let n = 0; n < 50; n++) await jobs.enqueue(tx, 'race', { n });
    });
    const a = worker(handlersFor('a'), { concurrency: 4, workerId: 'a' });
    const b = worker(handlersFor('b'), { concurrency: 4, workerId: 'b' });
    const drain = async (w: Worker) => {
      let total = 0;
      for (let ran = await w.runOnce(); ran > 0; ran = await w.runOnce()) total += ran;
      return total;
    };
    const [ranA, ranB] = await Promise.all([drain(a), drain(b)]);
    assert.equal(ranA + ranB, 50);
    assert.ok(ranA > 0 && ranB > 0, `both workers took part (a ${ranA}, b ${ranB})`);
    assert.equal(runs.size, 50);
    for (const [n, by] of runs) assert.equal(by.length, 1, `job ${n} ran ${by.length} times (${by.join(', ')})`);
    const rows = await db.sql<{ status: string; attempts: number }[]>`SELECT status, attempts FROM jobs`;
    assert.ok(rows.every((r) => r.status === 'done' && r.attempts === 1));
  });

  test('a started worker drains the queue by polling, never above its concurrency', async () => {
    let running = 0;
    let peak = 0;
    let done = 0;
    const w = worker(
      {
        slow: async () => {
          running += 1;
          peak = Math.max(peak, running);
          await sleep(15);
          running -= 1;
          done += 1;
        },
      },
      { concurrency: 3, pollIntervalMs: 50 },
    );
    await w.start();
    for (let n = 0; n < 20; n++) await jobs.enqueue(db.sql, 'slow', { n });
    await until(() => done === 20);
    assert.ok(peak <= 3, `peak concurrency ${peak}`);
    assert.ok(peak > 1, 'jobs ran concurrently');
    await w.stop();
  });

  test('LISTEN wakes a worker within ~1 s of commit, and not before', async () => {
    let ranAt: number | undefined;
    const w = worker(
      {
        wake: async () => {
          ranAt = Date.now();
        },
      },
      { listen: true, pollIntervalMs: 60_000 },
    );
    await w.start();
    let committedAt = 0;
    await db.sql.begin(async (tx) => {
      await jobs.enqueue(tx, 'wake', {});
      await sleep(300);
      assert.equal(ranAt, undefined, 'nothing runs before the transaction commits');
    });
    committedAt = Date.now();
    await until(() => ranAt !== undefined, 3000);
    assert.ok(ranAt! - committedAt < 1000, `woke ${ranAt! - committedAt} ms after commit`);
    await w.stop();
  });

  test('stop() waits for running jobs', async () => {
    let started = false;
    const w = worker(
      {
        long: async () => {
          started = true;
          await sleep(200);
        },
      },
      { pollIntervalMs: 20 },
    );
    await w.start();
    const id = await jobs.enqueue(db.sql, 'long', {});
    await until(() => started);
    await w.stop();
    assert.equal((await job(id)).status, 'done');
  });

  test('jobs whose lease expired are taken back and run again', async () => {
    const id = await jobs.enqueue(db.sql, 'orphan', {});
    const [claimed] = await jobs.claim(db.sql, 'crashed-worker', 1, clock.now(), 60_000);
    assert.equal(claimed.id, id);
    assert.ok(claimed.lease_token);
    assert.equal(await jobs.recoverStale(db.sql), 0, 'a fresh lease is left alone');
    // Leases are timed by the database's clock alone (see storage/jobs.ts), which a test cannot
    // move: the lease is aged in the table instead.
    const age = () => db.sql`UPDATE jobs SET lease_expires_at = now() - interval '1 second' WHERE id = ${id}`;
    await age();
    assert.deepEqual(await jobs.renew(db.sql, [{ id, token: 'another-claim' }], 60_000), new Set(), 'only the holder renews a lease');
    assert.deepEqual(await jobs.renew(db.sql, [{ id, token: claimed.lease_token }], 60_000), new Set([id]));
    assert.equal(await jobs.recoverStale(db.sql), 0, 'a renewed lease is left alone');
    await age();
    assert.equal(await jobs.recoverStale(db.sql), 1);
    const recovered = await job(id);
    assert.equal(recovered.status, 'pending');
    assert.equal(recovered.lease_token, null);
    assert.match(recovered.last_error ?? '', /crashed-worker/);

    // The crashed runner can neither complete nor fail a job it no longer holds.
    assert.equal(await jobs.complete(db.sql, { id, token: claimed.lease_token }), false);
    assert.equal(await jobs.fail(db.sql, { id, token: claimed.lease_token }, 'late', { retryInMs: 0 }, clock.now()), undefined);

    const w = worker({ orphan: async () => {} });
    assert.equal(await w.runOnce(), 1);
    const row = await job(id);
    assert.equal(row.status, 'done');
    assert.equal(row.attempts, 2);
  });

  test('a runner that lost its lease cannot record its outcome over the new claim, even under the same worker id', async () => {
    const id = await jobs.enqueue(db.sql, 'twice', {});
    const [first] = await jobs.claim(db.sql, 'same-worker', 1, clock.now(), 60_000);
    await db.sql`UPDATE jobs SET lease_expires_at = now() - interval '1 second' WHERE id = ${id}`;
    assert.equal(await jobs.recoverStale(db.sql), 1);
    const [second] = await jobs.claim(db.sql, 'same-worker', 1, clock.now(), 60_000);
    assert.equal(second.id, id);
    assert.notEqual(second.lease_token, first.lease_token);
    assert.equal(await jobs.complete(db.sql, { id, token: first.lease_token! }), false, 'the first claim completes nothing');
    assert.equal((await job(id)).status, 'running', 'the second claim still runs it');
    assert.deepEqual(await jobs.renew(db.sql, [{ id, token: first.lease_token! }], 60_000), new Set());
    assert.equal(await jobs.complete(db.sql, { id, token: second.lease_token! }), true);
    const row = await job(id);
    assert.equal(row.status, 'done');
    assert.equal(row.attempts, 2);
  });

  test('a running job keeps its lease past the lease length: the worker renews it while the job runs', async () => {
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    let started = false;
    const w = worker(
      {
        slow: async () => {
          started = true;
          await held;
        },
      },
      { leaseMs: 300, pollIntervalMs: 50 },
    );
    await w.start();
    const id = await jobs.enqueue(db.sql, 'slow', {});
    await until(() => started);
    const firstEnd = (await job(id)).lease_expires_at!;
    // Renewed twice over: the job has run longer than one lease, and is still held.
    await until(async () => (await job(id)).lease_expires_at!.getTime() > firstEnd.getTime() + 300, 10_000);
    assert.equal(await jobs.recoverStale(db.sql), 0, 'another instance takes nothing back');
    assert.equal((await job(id)).status, 'running');
    release();
    await until(async () => (await job(id)).status === 'done');
    assert.equal((await job(id)).attempts, 1);
  });

  test('a runner whose lease was taken over sees its signal aborted, and only the new claim records the outcome', async () => {
    const registry = new Registry();
    let firstSignal: AbortSignal | undefined;
    let releaseFirst!: () => void;
    const firstHeld = new Promise<void>((resolve) => (releaseFirst = resolve));
    const runs: number[] = [];
    const a = worker(
      {
        once: async (_payload, ctx) => {
          runs.push(ctx.attempt);
          if (ctx.attempt === 1) {
            firstSignal = ctx.signal;
            await firstHeld;
          }
        },
      },
      { leaseMs: 300, pollIntervalMs: 50, registry },
    );
    await a.start();
    const id = await jobs.enqueue(db.sql, 'once', {});
    await until(() => firstSignal !== undefined);
    // As if the runner had stalled past its lease: another instance takes the job back and runs it.
    await db.sql`UPDATE jobs SET status = 'pending', lease_token = NULL, lease_expires_at = NULL, run_at = now() WHERE id = ${id}`;
    const b = worker({ once: async (_payload, ctx) => void runs.push(ctx.attempt) });
    assert.equal(await b.runOnce(), 1);
    assert.equal((await job(id)).status, 'done');
    await until(() => firstSignal!.aborted);
    releaseFirst();
    await a.stop();
    const row = await job(id);
    assert.equal(row.status, 'done');
    assert.equal(row.attempts, 2);
    assert.deepEqual(runs, [1, 2]);
    assert.equal(await counterValue(registry, 'once', 'done'), 0, 'the first runner counted no outcome');
  });

  test('a renewal that never answers does not keep the job: once the lease has run out, the handler is told it lost it', async () => {
    let signal: AbortSignal | undefined;
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    // A connection of its own, taken before the worker can fill the pool.
    const blocker = await db.sql.reserve();
    const w = worker(
      {
        stuck: async (_payload, ctx) => {
          signal = ctx.signal;
          await held;
        },
      },
      { leaseMs: 300, pollIntervalMs: 50 },
    );
    const id = await jobs.enqueue(db.sql, 'stuck', {});
    await w.start();
    await until(() => signal !== undefined);
    // Another session holds the job's row: the renewal waits on it without an error, as a statement
    // on a connection that went silent does, while the lease runs out in the database.
    await blocker`BEGIN`;
    await blocker`SELECT id FROM jobs WHERE id = ${id} FOR UPDATE`;
    try {
      await until(() => signal!.aborted, 30_000);
      assert.match(String((signal!.reason as Error).message), /lost the job's lease/);
    } finally {
      await blocker`ROLLBACK`;
      blocker.release();
      release();
    }
    await w.stop();
  });

  test('a handler that never settles is stopped after the longest run a job may have: its signal aborted, the attempt failed, its slot freed', async () => {
    let hungSignal: AbortSignal | undefined;
    const ran: string[] = [];
    const w = worker(
      {
        hang: async (_payload, ctx) => {
          hungSignal = ctx.signal;
          await new Promise(() => {});
        },
        quick: async () => void ran.push('quick'),
      },
      { concurrency: 1, leaseMs: 300, maxRunMs: 900, pollIntervalMs: 50 },
    );
    const hung = await jobs.enqueue(db.sql, 'hang', {}, { maxAttempts: 1 });
    await w.start();
    await until(() => hungSignal !== undefined);
    await jobs.enqueue(db.sql, 'quick', {});
    // The renewals alone would hold the hung job (and the only slot) for ever.
    await until(() => ran.length === 1, 30_000);
    assert.ok(hungSignal!.aborted, 'the handler was told to stop');
    const row = await job(hung);
    assert.equal(row.status, 'failed');
    assert.match(row.last_error ?? '', /ran longer than 900 ms/);
    assert.equal(row.lease_token, null);
    assert.equal(await Promise.race([w.stop().then(() => 'stopped'), sleep(30_000).then(() => 'stop waits for the hung handler')]), 'stopped');
  });

  test('the default backoff doubles, with jitter, up to an hour', () => {
    const backoff = defaultBackoff(systemRandomness);
    for (let i = 0; i < 20; i++) {
      const first = backoff(1);
      assert.ok(first >= 1000 && first <= 2000, `attempt 1: ${first}`);
      const fifth = backoff(5);
      assert.ok(fifth >= 16_000 && fifth <= 32_000, `attempt 5: ${fifth}`);
      assert.ok(backoff(30) <= 3_600_000);
      assert.ok(backoff(30) >= 1_800_000);
    }
    const lowest = defaultBackoff({ ...systemRandomness, int: () => 0 });
    const highest = defaultBackoff({ ...systemRandomness, int: (max) => max - 1 });
    assert.deepEqual([lowest(1), highest(1)], [1000, 2000]);
    assert.deepEqual([lowest(30), highest(30)], [1_800_000, 3_600_000]);
  });
});

describe('homeserver jobs', () => {
  const SECRET = 'jobs-test-secret';
  let double: HomeserverDouble;
  let homeserver: HomeserverConnection;
  let handlers: Record<string, JobHandler>;

  before(async () => {
    double = await startHomeserverDouble({ secret: SECRET, serverName: 'jobs.test' });
    homeserver = createHomeserverConnection({
      kind: 'synapse',
      homeserver: 'jobs.test',
      secret: SECRET,
      endpoint: double.url,
    });
    handlers = homeserverJobHandlers({ sql: db.sql, homeserver, log });
  });

  after(async () => {
    await double.stop();
  });

  test('provision_user sends the display name, the verified e-mails only, and the lock', async () => {
    const user = await db.sql.begin(async (tx) => {
      const u = await users.create(tx, { username: 'alice', displayName: 'Alice' });
      await users.addEmail(tx, { userId: u.id, email: 'alice@example.org', verified: true });
      await users.addEmail(tx, { userId: u.id, email: 'unverified@example.org', verified: false });
      await enqueueProvisionUser(tx, u.id);
      return u;
    });
    double.failNext('provision_user', 1, 500);
    const w = worker(handlers, { backoff: () => 0 });
    assert.equal(await w.runOnce(), 1);
    const [first] = await db.sql<jobs.Job[]>`SELECT * FROM jobs WHERE kind = 'provision_user'`;
    assert.equal(first.status, 'pending', 'a homeserver error is retried');
    assert.match(first.last_error ?? '', /HomeserverError: .*500/);

    assert.equal(await w.runOnce(), 1);
    const call = await double.waitFor((c) => c.path === '/_synapse/mas/provision_user' && c.status === 201);
    assert.deepEqual(call.body, {
      localpart: 'alice',
      set_displayname: 'Alice',
      set_emails: ['alice@example.org'],
      locked: false,
    });
    assert.equal(call.authorization, `Bearer ${SECRET}`);
    assert.equal(double.users.get('alice')?.displayName, 'Alice');
    const [done] = await db.sql<jobs.Job[]>`SELECT * FROM jobs WHERE kind = 'provision_user'`;
    assert.equal(done.status, 'done');
    assert.equal(done.attempts, 2);

    // A locked user without a display name or verified e-mail: no set_displayname, unset_emails.
    await users.setLocked(db.sql, user.id, true);
    await users.setDisplayName(db.sql, user.id, null);
    await db.sql`UPDATE user_emails SET verified_at = NULL WHERE user_id = ${user.id}`;
    await enqueueProvisionUser(db.sql, user.id);
    assert.equal(await w.runOnce(), 1);
    const update = await double.waitFor((c) => c.path === '/_synapse/mas/provision_user' && c.status === 200);
    assert.deepEqual(update.body, { localpart: 'alice', unset_emails: true, locked: true });
  });

  test('sync_devices sends the devices of active sessions; delete_device removes one', async () => {
    const user = await users.create(db.sql, { username: 'bob' });
    for (const [grant, device] of [
      ['g1', 'DEV1'],
      ['g2', 'DEV2'],
      ['g3', 'DEV3'],
      ['g4', null],
    ] as const) {
      await sessions.start(db.sql, { grantId: grant, userId: user.id, clientId: 'c', deviceId: device, scope: 'openid' }, clock.now());
    }
    await sessions.finishByGrantId(db.sql, 'g3');
    double.addUser('bob');
    const hsBefore = double.calls.length;

    await enqueueSyncDevices(db.sql, user.id);
    const w = worker(handlers);
    assert.equal(await w.runOnce(), 1);
    const sync = await double.waitFor((c) => c.path === '/_synapse/mas/sync_devices');
    assert.equal((sync.body as { localpart: string }).localpart, 'bob');
    assert.deepEqual(new Set((sync.body as { devices: string[] }).devices), new Set(['DEV1', 'DEV2']));
    assert.deepEqual(double.devices('bob'), new Set(['DEV1', 'DEV2']));

    await db.sql.begin(async (tx) => {
      await sessions.finishByGrantId(tx, 'g1');
      await enqueueDeleteDevice(tx, user.id, 'DEV1');
    });
    assert.equal(await w.runOnce(), 1);
    const del = await double.waitFor((c) => c.path === '/_synapse/mas/delete_device');
    assert.deepEqual(del.body, { localpart: 'bob', device_id: 'DEV1' });
    assert.deepEqual(double.devices('bob'), new Set(['DEV2']));
    assert.equal(double.calls.length, hsBefore + 2);

    const rows = await db.sql<{ status: string }[]>`SELECT status FROM jobs`;
    assert.ok(rows.every((r) => r.status === 'done'));
  });

  test('a malformed payload fails at once; a deleted user is nothing to do', async () => {
    const bad = await jobs.enqueue(db.sql, 'delete_device', { user_id: 'x' });
    const gone = await enqueueProvisionUser(db.sql, '01NOSUCHUSER');
    const w = worker(handlers);
    const before = double.calls.length;
    assert.equal(await w.runOnce(), 2);
    const b = await job(bad);
    assert.equal(b.status, 'failed');
    assert.match(b.last_error ?? '', /device_id/);
    assert.equal((await job(gone)).status, 'done');
    assert.equal(double.calls.length, before);
  });

  /** A user whose session on `deviceId` ended (logout) while the homeserver was down, then logged in again. */
  async function loggedOutThenBackIn(username: string, deviceId: string, kind: 'compat' | 'oauth') {
    const user = await users.create(db.sql, { username });
    double.addUser(username);
    await homeserver.upsertDevice(username, deviceId);
    if (kind === 'compat') {
      const old = await compat.createSession(db.sql, { userId: user.id, deviceId, admin: false }, clock.now());
      await db.sql.begin(async (tx) => {
        await compat.finishSession(tx, old.id);
        await enqueueDeleteDevice(tx, user.id, deviceId);
      });
    } else {
      await sessions.start(db.sql, { grantId: `${username}-old`, userId: user.id, clientId: 'c', deviceId, scope: 'openid' }, clock.now());
      await db.sql.begin(async (tx) => {
        await sessions.finishByGrantId(tx, `${username}-old`);
        await enqueueDeleteDevice(tx, user.id, deviceId);
      });
    }
    return user;
  }

  for (const kind of ['compat', 'oauth'] as const) {
    test(`a retried delete_device leaves a device that logged in again (${kind}) on the homeserver`, async () => {
      const username = `relogin-${kind}`;
      const deviceId = `DEV${kind.toUpperCase()}RELOGIN`;
      const user = await loggedOutThenBackIn(username, deviceId, kind);
      double.failNext('delete_device', 1, 500);
      const w = worker(handlers, { backoff: () => 0 });
      assert.equal(await w.runOnce(), 1);
      const [first] = await db.sql<jobs.Job[]>`SELECT * FROM jobs WHERE kind = 'delete_device'`;
      assert.equal(first.status, 'pending', 'the failed deletion is retried');

      // The same device logs in again before the retry.
      if (kind === 'compat') await compat.createSession(db.sql, { userId: user.id, deviceId, admin: false }, clock.now());
      else await sessions.start(db.sql, { grantId: `${username}-new`, userId: user.id, clientId: 'c', deviceId, scope: 'openid' }, clock.now());

      assert.equal(await w.runOnce(), 1);
      const done = await job(first.id);
      assert.equal(done.status, 'done', 'the job finishes without error');
      assert.deepEqual(double.devices(username), new Set([deviceId]), 'the device in use is still on the homeserver');
      const deleted = double.calls.filter(
        (c) => c.path === '/_synapse/mas/delete_device' && c.status === 204 && (c.body as { localpart: string }).localpart === username,
      );
      assert.deepEqual(deleted, [], 'no deletion reached the homeserver');
    });
  }

  test('end_user_sessions ends the listed grants only, and running it twice is harmless', async () => {
    const user = await users.create(db.sql, { username: 'reset-user' });
    for (const grantId of ['reset-g1', 'reset-g2', 'reset-later']) {
      await db.sql`INSERT INTO oidc_payloads (model, id, payload, account_id) VALUES ('Grant', ${grantId}, '{}', ${user.id})`;
      await sessions.start(db.sql, { grantId, userId: user.id, clientId: 'c', deviceId: `DEV-${grantId}`, scope: 'openid' }, clock.now());
    }
    double.addUser('reset-user');
    const w = worker(handlers);
    for (let run = 0; run < 2; run++) {
      await enqueueEndUserSessions(db.sql, user.id, ['reset-g1', 'reset-g2', 'reset-gone']);
      while ((await w.runOnce()) > 0);
    }
    const grants = await db.sql<{ id: string }[]>`SELECT id FROM oidc_payloads WHERE model = 'Grant' AND account_id = ${user.id}`;
    assert.deepEqual(grants.map((g) => g.id), ['reset-later'], 'a grant made after the reset stays');
    const live = await sessions.listActiveForUser(db.sql, user.id);
    assert.deepEqual(live.map((l) => l.grant_id), ['reset-later']);
    const deletions = await db.sql<{ payload: { device_id: string } }[]>`
      SELECT payload FROM jobs WHERE kind = 'delete_device' AND payload ->> 'user_id' = ${user.id} ORDER BY payload ->> 'device_id'`;
    assert.deepEqual(deletions.map((d) => d.payload.device_id), ['DEV-reset-g1', 'DEV-reset-g2'], 'one deletion per device, not per run');
    const done = await db.sql<{ status: string }[]>`SELECT status FROM jobs WHERE kind = 'end_user_sessions'`;
    assert.deepEqual(done.map((d) => d.status), ['done', 'done']);
  });

  test('a login that lands while sync_devices is in flight keeps its device', async () => {
    const username = 'sync-race';
    const user = await users.create(db.sql, { username });
    double.addUser(username);
    await sessions.start(db.sql, { grantId: `${username}-old`, userId: user.id, clientId: 'c', deviceId: 'DEVSYNCOLD', scope: 'openid' }, clock.now());
    await homeserver.upsertDevice(username, 'DEVSYNCOLD');
    // Between the job's read of the active devices and its call, a login (after a password
    // reset, say) commits its session and creates its device.
    const syncDevices = async (localpart: string, devices: string[]) => {
      await compat.createSession(db.sql, { userId: user.id, deviceId: 'DEVSYNCNEW', admin: false }, clock.now());
      await homeserver.upsertDevice(localpart, 'DEVSYNCNEW');
      await homeserver.syncDevices(localpart, devices);
    };
    const racing = new Proxy(homeserver, {
      get(target, prop) {
        if (prop === 'syncDevices') return syncDevices;
        const value: unknown = Reflect.get(target, prop, target);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    await enqueueSyncDevices(db.sql, user.id);
    const w = worker(homeserverJobHandlers({ sql: db.sql, homeserver: racing, log }));
    assert.equal(await w.runOnce(), 1);
    const [row] = await db.sql<jobs.Job[]>`SELECT * FROM jobs WHERE kind = 'sync_devices'`;
    assert.equal(row.status, 'done', row.last_error ?? 'no error');
    assert.deepEqual(double.devices(username), new Set(['DEVSYNCOLD', 'DEVSYNCNEW']), 'the new session keeps its device');
  });

  test('delete_device calls the homeserver outside any transaction: the device lock is free meanwhile', async () => {
    const username = 'slow-delete';
    const deviceId = 'DEVSLOWDEL1';
    const user = await loggedOutThenBackIn(username, deviceId, 'compat');
    let lockFreeDuringCall: boolean | undefined;
    const deleteDevice = async (localpart: string, device: string) => {
      // What a login on this device would take: it must not wait for the homeserver's answer.
      lockFreeDuringCall = await db.sql.begin(async (tx) => {
        const [row] = await tx<{ free: boolean }[]>`
          SELECT pg_try_advisory_xact_lock(hashtextextended(${`compat-device:${user.id}:${device}`}, 0)) AS free`;
        return row.free;
      });
      await homeserver.deleteDevice(localpart, device);
    };
    const slow = new Proxy(homeserver, {
      get(target, prop) {
        if (prop === 'deleteDevice') return deleteDevice;
        const value: unknown = Reflect.get(target, prop, target);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    const w = worker(homeserverJobHandlers({ sql: db.sql, homeserver: slow, log }));
    assert.equal(await w.runOnce(), 1);
    assert.equal(lockFreeDuringCall, true);
    assert.deepEqual(double.devices(username), new Set(), 'the device was deleted');
  });

  test('a login that lands while delete_device is in flight gets its device back', async () => {
    const username = 'relogin-race';
    const deviceId = 'DEVRACE0001';
    const user = await loggedOutThenBackIn(username, deviceId, 'oauth');
    // The login commits its session between the job's check and its call to the homeserver.
    const deleteDevice = async (localpart: string, device: string) => {
      await sessions.start(db.sql, { grantId: `${username}-new`, userId: user.id, clientId: 'c', deviceId, scope: 'openid' }, clock.now());
      await homeserver.deleteDevice(localpart, device);
    };
    const racing = new Proxy(homeserver, {
      get(target, prop) {
        if (prop === 'deleteDevice') return deleteDevice;
        const value: unknown = Reflect.get(target, prop, target);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    const w = worker(homeserverJobHandlers({ sql: db.sql, homeserver: racing, log }));
    assert.equal(await w.runOnce(), 1);
    const [row] = await db.sql<jobs.Job[]>`SELECT * FROM jobs WHERE kind = 'delete_device'`;
    assert.equal(row.status, 'done', row.last_error ?? 'no error');
    assert.deepEqual(double.devices(username), new Set([deviceId]), 'the device of the new session exists');
  });
});
