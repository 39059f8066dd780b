import assert from 'node:assert/strict';
import { test } from 'node:test';
import { HashPool, PasswordCheckAbandoned, PasswordsBusy, whileRequestLasts } from './hash-pool.js';
import { PasswordHasher } from './passwords.js';

/** A task that runs until the test lets it finish. */
function gate<T>() {
  let open!: (value: T) => void;
  let fail!: (error: Error) => void;
  const done = new Promise<T>((resolve, reject) => {
    open = resolve;
    fail = reject;
  });
  return { started: false, task: undefined as unknown as () => Promise<T>, open, fail, done };
}

function tasks<T>(count: number) {
  return Array.from({ length: count }, () => {
    const g = gate<T>();
    g.task = () => {
      g.started = true;
      return g.done;
    };
    return g;
  });
}

/** Lets queued continuations run. */
const settle = () => new Promise((resolve) => setImmediate(resolve));

test('the pool runs at most `concurrency` tasks at once, the rest in arrival order', async () => {
  const pool = new HashPool({ concurrency: 2, maxQueue: 10 });
  const gates = tasks<number>(5);
  const results = gates.map((g, i) => pool.run(g.task).then((value) => ({ i, value })));
  await settle();
  assert.deepEqual(gates.map((g) => g.started), [true, true, false, false, false]);
  assert.equal(pool.running, 2);
  assert.equal(pool.queued, 3);

  gates[1].open(1);
  await settle();
  assert.deepEqual(gates.map((g) => g.started), [true, true, true, false, false], 'the first waiting task takes the freed slot');
  assert.equal(pool.running, 2);

  for (const [i, g] of gates.entries()) g.open(i);
  assert.deepEqual(await Promise.all(results), [0, 1, 2, 3, 4].map((i) => ({ i, value: i })));
  assert.equal(pool.running, 0);
  assert.equal(pool.queued, 0);
});

test('beyond the queue limit a call fails at once with PasswordsBusy, without running', async () => {
  const pool = new HashPool({ concurrency: 1, maxQueue: 2 });
  const gates = tasks<string>(3);
  const accepted = gates.map((g) => pool.run(g.task));
  let ran = false;
  const refused = pool.run(async () => {
    ran = true;
    return 'never';
  });
  await assert.rejects(refused, (err: unknown) => {
    assert.ok(err instanceof PasswordsBusy);
    assert.ok(Number.isInteger(err.retryAfterMs) && err.retryAfterMs >= 1000 && err.retryAfterMs <= 60_000, String(err.retryAfterMs));
    return true;
  });
  assert.equal(ran, false);
  assert.equal(pool.queued, 2, 'the refused call did not join the queue');

  for (const g of gates) g.open('done');
  assert.deepEqual(await Promise.all(accepted), ['done', 'done', 'done']);
});

test('a queue limit of 0 refuses every call while all slots are busy', async () => {
  const pool = new HashPool({ concurrency: 1, maxQueue: 0 });
  const [first] = tasks<string>(1);
  const running = pool.run(first.task);
  await assert.rejects(pool.run(async () => 'second'), PasswordsBusy);
  first.open('first');
  assert.equal(await running, 'first');
  assert.equal(await pool.run(async () => 'third'), 'third');
});

test("a task's error reaches its caller and frees the slot for the next", async () => {
  const pool = new HashPool({ concurrency: 1, maxQueue: 5 });
  const [failing, next] = tasks<string>(2);
  const failed = pool.run(failing.task);
  const waiting = pool.run(next.task);
  await settle();
  assert.equal(next.started, false);
  failing.fail(new Error('argon2 broke'));
  await assert.rejects(failed, /argon2 broke/);
  await settle();
  assert.equal(next.started, true, 'the waiting task got the slot');
  next.open('ok');
  assert.equal(await waiting, 'ok');

  // A task that throws before returning a promise frees its slot too.
  await assert.rejects(pool.run(() => { throw new Error('at once'); }), /at once/);
  assert.equal(pool.running, 0);
});

test('a slot is free again after a busy refusal', async () => {
  const pool = new HashPool({ concurrency: 1, maxQueue: 1 });
  const gates = tasks<number>(2);
  const accepted = gates.map((g) => pool.run(g.task));
  await assert.rejects(pool.run(async () => 0), PasswordsBusy);
  for (const g of gates) g.open(1);
  await Promise.all(accepted);
  assert.equal(pool.running, 0);
  assert.equal(pool.queued, 0);
  // Both a running slot and the queue place are free: two calls are accepted again.
  const again = tasks<number>(2);
  const results = again.map((g) => pool.run(g.task));
  await settle();
  assert.equal(pool.running, 1);
  assert.equal(pool.queued, 1);
  for (const g of again) g.open(2);
  assert.deepEqual(await Promise.all(results), [2, 2]);
});

test('the pool refuses a concurrency below 1 and a negative queue limit', () => {
  assert.throws(() => new HashPool({ concurrency: 0, maxQueue: 1 }), RangeError);
  assert.throws(() => new HashPool({ concurrency: 1.5, maxQueue: 1 }), RangeError);
  assert.throws(() => new HashPool({ concurrency: 1, maxQueue: -1 }), RangeError);
});

test('a full pool makes the hasher throw PasswordsBusy, never answer "wrong password", the dummy check included', async () => {
  const hasher = new PasswordHasher({ schemes: [{ version: 1, algorithm: 'argon2id' }], max_concurrency: 1, max_queue: 0 });
  assert.equal(hasher.pool.concurrency, 1);
  const stored = await hasher.hash('correct horse');
  // The first verification takes the only slot before its first await.
  const first = hasher.verify(stored, 'correct horse');
  await assert.rejects(hasher.verify(stored, 'correct horse'), PasswordsBusy);
  await assert.rejects(hasher.verifyDummy('correct horse'), PasswordsBusy);
  await assert.rejects(hasher.hash('another'), PasswordsBusy);
  assert.deepEqual(await first, { valid: true, needsRehash: false });

  // Free again: a refused dummy check was not remembered, and a malformed hash still just fails.
  await hasher.verifyDummy('correct horse');
  assert.deepEqual(await hasher.verify({ hash: 'not a hash', version: 1 }, 'correct horse'), { valid: false, needsRehash: false });
  assert.deepEqual(await hasher.verify(stored, 'wrong horse'), { valid: false, needsRehash: false });
});

test('the hasher queues by default: max(1, cores − 1) at once, 64 waiting per slot', async () => {
  const hasher = new PasswordHasher({ schemes: [{ version: 1, algorithm: 'argon2id' }] });
  assert.ok(hasher.pool.concurrency >= 1);
  assert.equal(hasher.pool.maxQueue, 64 * hasher.pool.concurrency);
  const stored = await hasher.hash('a long passphrase');
  const checks = await Promise.all(Array.from({ length: hasher.pool.concurrency + 3 }, () => hasher.verify(stored, 'a long passphrase')));
  assert.ok(checks.every((check) => check.valid));
});

test('a waiting task whose request is gone leaves the queue without running; other requests keep their place', async () => {
  const pool = new HashPool({ concurrency: 1, maxQueue: 5 });
  const [first, second, third] = tasks<string>(3);
  const running = pool.run(first.task);
  const leaving = new AbortController();
  const abandoned = whileRequestLasts(leaving.signal, () => pool.run(second.task));
  const staying = whileRequestLasts(new AbortController().signal, () => pool.run(third.task));
  await settle();
  assert.equal(pool.queued, 2);
  leaving.abort();
  await assert.rejects(abandoned, PasswordCheckAbandoned);
  assert.equal(pool.queued, 1, 'the gone request left the queue');
  first.open('first');
  assert.equal(await running, 'first');
  await settle();
  assert.equal(second.started, false, "the gone request's task never ran");
  assert.equal(third.started, true, 'the next request took the slot');
  third.open('third');
  assert.equal(await staying, 'third');
  assert.equal(pool.running, 0);
  // A request already gone does not start, even with a slot free.
  const gone = new AbortController();
  gone.abort();
  await assert.rejects(whileRequestLasts(gone.signal, () => pool.run(async () => 'never')), PasswordCheckAbandoned);
  assert.equal(pool.running, 0);
});

test('the dummy hash, shared by every request, is not failed by the first requester leaving', async () => {
  const hasher = new PasswordHasher({ schemes: [{ version: 1, algorithm: 'argon2id' }], max_concurrency: 1, max_queue: 5 });
  let release!: () => void;
  const held = hasher.pool.run(() => new Promise<void>((resolve) => (release = resolve)));
  const leaving = new AbortController();
  // The first unknown-user login starts making the dummy hash, then its client leaves.
  const first = whileRequestLasts(leaving.signal, () => hasher.verifyDummy('guess one')).catch((err: unknown) => err);
  const second = whileRequestLasts(new AbortController().signal, () => hasher.verifyDummy('guess two'));
  await settle();
  leaving.abort();
  release();
  await held;
  await second;
  // The first request is gone: it either finished or left; either way nothing failed for the second.
  const outcome = await first;
  assert.ok(outcome === undefined || outcome instanceof PasswordCheckAbandoned, String(outcome));
});
