// A request that is gone while it waits for the password pool (its client left, or the request
// deadline already answered 503) leaves the queue: its hash never runs later, where it would take
// a slot from the clients still waiting (and act, after the answer, for nobody).
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import express from 'express';
import pino from 'pino';
import { PasswordHasher } from '../../src/accounts/passwords.js';
import { withDeadline } from '../../src/http/unavailable.js';
import { englishText, type Message } from '../../src/web/i18n.js';
import type { Renderer } from '../../src/web/render.js';

const renderer: Pick<Renderer, 'render'> = {
  render: (page, context) => `<html><body>${page}: ${englishText(context?.message as Message)}</body></html>`,
};

/** Short, so the suite is quick. */
const DEADLINE_SECONDS = 0.3;
/** Generous: how long the queue may take to notice a request is gone. */
const NOTICE_MS = 10_000;

const hasher = new PasswordHasher({ schemes: [{ version: 1, algorithm: 'argon2id' }], max_concurrency: 1, max_queue: 10 });
let stored: Awaited<ReturnType<PasswordHasher['hash']>>;
let server: Server;
let base: string;
/** Requests whose password check finished (ran): by form field `who`. */
const checked: string[] = [];

before(async () => {
  stored = await hasher.hash('the password');
  const app = express();
  app.post('/login', express.urlencoded({ extended: false }), async (req, res, next) => {
    try {
      await hasher.verify(stored, String(req.body.password));
      checked.push(String(req.body.who));
      res.type('text').send('checked');
    } catch (err) {
      next(err);
    }
  });
  app.use(((_err, _req, res, _next) => {
    if (!res.headersSent) res.status(500).end();
  }) as express.ErrorRequestHandler);
  server = createServer(withDeadline(app, { seconds: DEADLINE_SECONDS, renderer, log: pino({ level: 'silent' }) }));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

after(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

/** Holds the pool's only slot until released. */
function occupy(): () => Promise<void> {
  let release!: () => void;
  const held = hasher.pool.run(() => new Promise<void>((resolve) => (release = resolve)));
  return async () => {
    release();
    await held;
  };
}

const post = (who: string, signal?: AbortSignal) =>
  fetch(`${base}/login`, { method: 'POST', body: new URLSearchParams({ who, password: 'the password' }), signal });

async function until(condition: () => boolean, what: string): Promise<void> {
  const end = Date.now() + NOTICE_MS;
  while (!condition()) {
    if (Date.now() > end) assert.fail(`not within ${NOTICE_MS} ms: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

test('a request answered 503 by the deadline while queued leaves the queue, and its check never runs', async () => {
  checked.length = 0;
  const release = occupy();
  try {
    const res = await post('late');
    assert.equal(res.status, 503, 'the deadline answered');
    await res.text();
    await until(() => hasher.pool.queued === 0, 'the answered request leaves the queue');
  } finally {
    await release();
  }
  // The slot is free at once for the next request, and the abandoned check did not run meanwhile.
  const next = await post('next');
  assert.equal(next.status, 200);
  assert.equal(await next.text(), 'checked');
  assert.deepEqual(checked, ['next']);
});

test('a client that disconnects while queued leaves the queue, and its check never runs', async () => {
  checked.length = 0;
  const release = occupy();
  try {
    const client = new AbortController();
    const pending = post('gone', client.signal).catch((err: unknown) => err);
    await until(() => hasher.pool.queued === 1, 'the request is queued');
    client.abort();
    assert.equal(((await pending) as Error).name, 'AbortError');
    await until(() => hasher.pool.queued === 0, 'the disconnected request leaves the queue');
  } finally {
    await release();
  }
  const next = await post('next');
  assert.equal(await next.text(), 'checked');
  assert.deepEqual(checked, ['next']);
});

test('a request that finishes normally is not treated as gone', async () => {
  checked.length = 0;
  const release = occupy();
  const queued = post('patient');
  await until(() => hasher.pool.queued === 1, 'the request is queued');
  await release();
  const res = await queued;
  assert.equal(res.status, 200);
  assert.equal(await res.text(), 'checked');
  assert.deepEqual(checked, ['patient']);
});
