// Black box: what keeps the built-in rendezvous from serving as free storage. MSC4108 sessions end
// 60 s after their creation whatever is written to them; `rendezvous.max_sessions` caps the
// sessions open at once (both protocols together), and expired ones are forgotten. The server runs
// in this process and its clock jumps over the lifetimes.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';
import postgres from 'postgres';
import { startHomeserverDouble, type HomeserverDouble } from '../support/homeserver-double.js';
import { createInProcessMauth, type InProcessMauth } from '../support/mauth-inprocess.js';
import { lockTable } from '../support/table-lock.js';

const MSC4108 = '/_matrix/client/unstable/org.matrix.msc4108/rendezvous';
const MSC4388 = '/_matrix/client/unstable/io.element.msc4388/rendezvous';
const MAX_SESSIONS = 3;
let hs: HomeserverDouble;
let mauth: InProcessMauth;
let db: postgres.Sql;

before(async () => {
  const secret = randomBytes(16).toString('hex');
  hs = await startHomeserverDouble({ secret, serverName: 'rendezvous-limits.test' });
  mauth = await createInProcessMauth({
    homeserverUrl: hs.url,
    serverName: 'rendezvous-limits.test',
    secret,
    // A locked table answers 503 after a second rather than five.
    database: { lock_timeout: 1 },
    extra: {
      rendezvous: { max_sessions: MAX_SESSIONS },
      rate_limiting: { rendezvous: { burst: 1000, per_second: 1000 } },
    },
  });
  db = postgres(mauth.databaseUrl, { max: 1, onnotice: () => {} });
  await mauth.start();
});

after(async () => {
  await db?.end();
  await mauth?.stop();
  await mauth?.drop();
  await hs?.stop();
});

const createMsc4108 = (body = 'hello') => fetch(`${mauth.url}${MSC4108}`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body });
const createMsc4388 = (data = 'hello') => fetch(`${mauth.url}${MSC4388}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ data }) });
const rows = async () => (await db<{ n: number }[]>`SELECT count(*)::int AS n FROM rendezvous_sessions`)[0].n;

test('an MSC4108 session ends 60 s after its creation, however recently it was written', async () => {
  const created = await createMsc4108();
  assert.equal(created.status, 201);
  const { url } = (await created.json()) as { url: string };
  await mauth.advance(30);
  const put = await fetch(url, { method: 'PUT', headers: { 'content-type': 'text/plain', 'if-match': created.headers.get('etag')! }, body: 'written late' });
  assert.equal(put.status, 202);
  assert.equal(put.headers.get('expires'), created.headers.get('expires'));
  assert.equal((await fetch(url)).status, 200);

  await mauth.advance(30);
  const read = await fetch(url);
  assert.equal(read.status, 404);
  assert.equal(((await read.json()) as { errcode: string }).errcode, 'M_NOT_FOUND');
  const late = await fetch(url, { method: 'PUT', headers: { 'content-type': 'text/plain', 'if-match': put.headers.get('etag')! }, body: 'too late' });
  assert.equal(late.status, 404);
  assert.equal((await fetch(url, { method: 'DELETE' })).status, 404);
});

test('once max_sessions are open, creation answers 503 with Retry-After until one ends; expired rows are pruned', async () => {
  const open: string[] = [];
  for (let i = 0; i < MAX_SESSIONS; i += 1) {
    const res = i === 0 ? await createMsc4388() : await createMsc4108();
    assert.equal(res.status, i === 0 ? 200 : 201);
    const body = (await res.json()) as { url?: string };
    if (body.url) open.push(body.url);
  }
  for (const full of [await createMsc4108(), await createMsc4388()]) {
    assert.equal(full.status, 503);
    // The MSC4108 sessions end first, 60 s after they began.
    assert.equal(full.headers.get('retry-after'), '60');
    assert.equal(full.headers.get('access-control-allow-origin'), '*');
    const body = (await full.json()) as { errcode: string; error: string };
    assert.equal(body.errcode, 'M_UNKNOWN');
    assert.match(body.error, /too many rendezvous sessions/i);
  }
  assert.match(mauth.output(), /every session slot is taken/);

  // Ending one frees its slot.
  assert.equal((await fetch(open[0]!, { method: 'DELETE' })).status, 204);
  assert.equal((await createMsc4108()).status, 201);
  assert.equal((await createMsc4108()).status, 503);

  // Once they have expired, the next creation succeeds and forgets the expired rows on its way.
  await mauth.advance(120);
  assert.equal(await rows(), MAX_SESSIONS);
  assert.equal((await createMsc4108()).status, 201);
  assert.equal(await rows(), 1);
});

test('a stalled database gives 503 in Matrix form, with the CORS headers and Retry-After; the logged path hides the session id', async () => {
  const created = await createMsc4108();
  assert.equal(created.status, 201);
  const { url } = (await created.json()) as { url: string };
  const { pathname } = new URL(url);
  const id = pathname.split('/').pop()!;
  const lock = await lockTable(mauth.databaseUrl, 'rendezvous_sessions');
  try {
    const res = await fetch(url, { headers: { origin: 'https://app.element.io' } });
    assert.equal(res.status, 503);
    assert.ok(res.headers.get('retry-after'));
    assert.equal(res.headers.get('access-control-allow-origin'), '*');
    assert.equal(((await res.json()) as { errcode: string }).errcode, 'M_UNKNOWN');
    // Paths match whatever their case, so the same session is reached (and logged) this way too.
    const shouted = await fetch(`${mauth.url}${pathname.toUpperCase()}`);
    assert.equal(shouted.status, 503);
    await shouted.body?.cancel();
  } finally {
    await lock.release();
  }
  assert.match(mauth.output(), /rendezvous\/…/i);
  assert.doesNotMatch(mauth.output(), new RegExp(id, 'i'));
});
