// Read-your-writes of the introspection cache, at the HTTP layer: every response to a request
// that may change a token (any method but GET, HEAD and OPTIONS, any route but introspection
// and the rendezvous) tells the cache before its head is written, however the handler writes it
// (explicit head, implicit on end or first write, Express, a redirect); other requests never do.
// And every job this instance's worker runs tells it once the job's handler is done, before the
// job is recorded done (or failed), however the handler ended.
import assert from 'node:assert/strict';
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import express from 'express';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { FixedClock, systemRandomness } from '../../src/clock.js';
import { followedBy, syncBeforeAnswer } from '../../src/http/read-your-writes.js';
import { Worker } from '../../src/jobs/worker.js';
import * as jobs from '../../src/storage/jobs.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';

/** What the cache was told by the HTTP hook: for each sync, the request's path and whether the head had already been sent. */
const syncs: { path: string; headersSent: boolean; bytesWritten: number }[] = [];
let server: Server;
let base: string;

before(async () => {
  const app = express();
  app.post('/express/json', (_req, res) => void res.json({ ok: true }));
  app.post('/express/redirect', (_req, res) => res.redirect(303, '/account/'));
  app.delete('/express/status', (_req, res) => void res.sendStatus(204));
  server = createServer((req, res) => {
    const path = (req.url ?? '').split('?')[0];
    syncBeforeAnswer(
      {
        syncAfterWrite() {
          syncs.push({ path, headersSent: res.headersSent, bytesWritten: res.socket?.bytesWritten ?? 0 });
        },
      },
      req,
      res,
    );
    req.resume();
    req.on('end', () => {
      if (path.startsWith('/express/')) return app(req, res);
      answer(path, res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

let db: TestDatabase;
before(async () => {
  db = await createTestDatabase('ryw');
});

after(async () => {
  await db?.close();
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

function answer(path: string, res: ServerResponse): void {
  if (path === '/explicit') {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end('done');
  } else if (path === '/streamed') {
    res.write('part');
    setImmediate(() => res.end(' and the rest'));
  } else {
    res.statusCode = 200;
    res.end('done');
  }
}

/** Sends the request on a connection of its own; returns the syncs it caused. */
async function syncsOf(method: string, path: string): Promise<typeof syncs> {
  const before = syncs.length;
  const res = await fetch(`${base}${path}`, {
    method,
    redirect: 'manual',
    headers: { connection: 'close' },
    body: method === 'GET' || method === 'HEAD' ? undefined : 'x=1',
  });
  await res.arrayBuffer();
  return syncs.slice(before);
}

test('a POST, PUT, PATCH or DELETE tells the cache once, before any byte of its answer is written', async () => {
  for (const [method, path] of [
    ['POST', '/explicit'],
    ['POST', '/implicit'],
    ['POST', '/streamed'],
    ['PUT', '/implicit?x=1'],
    ['PATCH', '/explicit'],
    ['DELETE', '/implicit'],
    ['POST', '/express/json'],
    ['POST', '/express/redirect'],
    ['DELETE', '/express/status'],
    ['POST', '/oauth2/revoke'],
  ]) {
    const seen = await syncsOf(method, path);
    assert.equal(seen.length, 1, `${method} ${path}: one sync`);
    assert.equal(seen[0].headersSent, false, `${method} ${path}: before the head was sent`);
    assert.equal(seen[0].bytesWritten, 0, `${method} ${path}: before any byte was written`);
  }
});

test('safe methods, introspection and the rendezvous never tell the cache', async () => {
  for (const [method, path] of [
    ['GET', '/explicit'],
    ['HEAD', '/implicit'],
    ['OPTIONS', '/oauth2/revoke'],
    ['POST', '/oauth2/introspect'],
    ['POST', '/oauth2/introspect?x=1'],
    ['POST', '/_matrix/client/unstable/org.matrix.msc4108/rendezvous'],
    ['PUT', '/_synapse/client/rendezvous/abc'],
    ['DELETE', '/_matrix/client/unstable/io.element.msc4388/rendezvous/abc'],
  ]) {
    assert.deepEqual(await syncsOf(method, path), [], `${method} ${path}`);
  }
});

test('a job run by this instance tells the cache once its handler is done, however it ended', async () => {
  const told: { kind: string; handlerDone: boolean }[] = [];
  const done = new Set<string>();
  let current = '';
  const handlers = followedBy(
    {
      async changes() {
        await db.sql`SELECT 1`;
        done.add('changes');
      },
      async fails() {
        await db.sql`SELECT 1`;
        done.add('fails');
        throw new Error('the homeserver said no');
      },
    },
    () => told.push({ kind: current, handlerDone: done.has(current) }),
  );
  const worker = new Worker({
    sql: db.sql,
    handlers,
    log: pino({ level: 'silent' }),
    listen: false,
    registry: new Registry(),
    clock: new FixedClock(new Date(Date.now() + 60_000)),
    random: systemRandomness,
  });
  for (const kind of ['changes', 'fails']) {
    current = kind;
    const id = await jobs.enqueue(db.sql, kind, {}, { maxAttempts: 1 });
    assert.equal(await worker.runOnce(1), 1);
    assert.equal((await jobs.findById(db.sql, id))?.status, kind === 'fails' ? 'failed' : 'done');
  }
  assert.deepEqual(told, [
    { kind: 'changes', handlerDone: true },
    { kind: 'fails', handlerDone: true },
  ]);
});
