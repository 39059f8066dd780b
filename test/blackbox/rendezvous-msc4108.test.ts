// Black box: the built-in MSC4108 rendezvous, served from the database, so two Mauth instances on
// one database serve every session between them (as behind a load balancer). matrix-js-sdk's own
// transport is the client: one side creates on instance A, the other answers through instance B.
// Then the wire details Synapse serves: ETags and conditional requests, the limits, CORS.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';
import { logger } from 'matrix-js-sdk/lib/logger.js';
import { MSC4108RendezvousSession } from 'matrix-js-sdk/lib/rendezvous/transports/MSC4108RendezvousSession.js';
import { startHomeserverDouble, type HomeserverDouble } from '../support/homeserver-double.js';
import { createMauth, type MauthInstance } from '../support/mauth-process.js';

const CREATE = '/_matrix/client/unstable/org.matrix.msc4108/rendezvous';
const ORIGIN = 'https://app.element.io';
const BURST = 4;
const embedded = process.env.MAUTH_TEST_DATABASE === 'embedded';

let hs: HomeserverDouble;
let a: MauthInstance;
let b: MauthInstance;

before(async () => {
  if (embedded) return;
  const secret = randomBytes(16).toString('hex');
  hs = await startHomeserverDouble({ secret, serverName: 'rendezvous.test' });
  // Both instances draw from one bucket per address, as they share the database.
  const extra = { rate_limiting: { rendezvous: { burst: BURST, per_second: 0.0001 } } };
  a = await createMauth({ homeserverUrl: hs.url, serverName: 'rendezvous.test', secret, extra });
  await a.start();
  b = await createMauth({ homeserverUrl: hs.url, serverName: 'rendezvous.test', secret, extra, databaseUrl: a.databaseUrl });
  await b.start();
  // loglevel underneath; its info lines would print every message.
  (logger as unknown as { setLevel(level: string): void }).setLevel('warn');
});

after(async () => {
  await b?.stop();
  await a?.stop();
  await a?.drop();
  await hs?.stop();
});

let addresses = 0;
/** A client address of its own (a trusted proxy's X-Forwarded-For), so tests do not share a bucket. */
const freshIp = () => `198.51.100.${(addresses += 1)}`;

async function create(base: string, ip: string, body = 'hello', headers: Record<string, string> = {}) {
  const res = await fetch(`${base}${CREATE}`, { method: 'POST', headers: { 'content-type': 'text/plain', 'x-forwarded-for': ip, ...headers }, body });
  return res;
}

async function session(base: string, ip = freshIp(), body = 'hello'): Promise<{ url: string; path: string; etag: string }> {
  const res = await create(base, ip, body);
  assert.equal(res.status, 201, await res.clone().text());
  const { url } = (await res.json()) as { url: string };
  return { url, path: new URL(url).pathname, etag: res.headers.get('etag')! };
}

test('two matrix-js-sdk sessions exchange messages both ways, one through each instance', { skip: embedded && 'needs two instances on PostgreSQL' }, async () => {
  const seen = { a: 0, b: 0 };
  const countA: typeof fetch = (input, init) => {
    seen.a += 1;
    return fetch(input, init);
  };
  // The load balancer sends the answering device's requests to the other instance.
  const toB: typeof fetch = (input, init) => {
    seen.b += 1;
    return fetch(String(input).replace(a.url, b.url), init);
  };
  const creator = new MSC4108RendezvousSession({ fallbackRzServer: `${a.url}${CREATE}`, fetchFn: countA });
  try {
    await creator.send('hello from the new device');
    assert.ok(creator.ready);
    assert.match(creator.url ?? '', new RegExp(`^${a.url}/_synapse/client/rendezvous/`));

    const answerer = new MSC4108RendezvousSession({ url: creator.url!, fetchFn: toB });
    assert.equal(await answerer.receive(), 'hello from the new device');
    for (let round = 1; round <= 3; round += 1) {
      await answerer.send(`reply ${round} from the signed-in device`);
      assert.equal(await creator.receive(), `reply ${round} from the signed-in device`);
      await creator.send(`message ${round + 1} from the new device`);
      assert.equal(await answerer.receive(), `message ${round + 1} from the new device`);
    }
    assert.equal(creator.cancelled || answerer.cancelled, false);
    assert.ok(seen.a >= 7 && seen.b >= 7, JSON.stringify(seen));
  } finally {
    await creator.close();
  }
  const gone = await fetch(creator.url!);
  assert.equal(gone.status, 404);
  assert.equal(((await gone.json()) as { errcode: string }).errcode, 'M_NOT_FOUND');
});

test('creation answers 201 with the session URL under public_base and the ETag, Expires and CORS headers', { skip: embedded }, async () => {
  const res = await create(a.url, freshIp(), 'foo=bar');
  assert.equal(res.status, 201);
  const { url } = (await res.json()) as { url: string };
  assert.match(url, new RegExp(`^${a.url}/_synapse/client/rendezvous/[0-7][0-9A-HJKMNP-TV-Z]{25}$`));
  // base64url SHA-256 of the body, quoted.
  assert.equal(res.headers.get('etag'), '"O6iQfnolIydIjfOQ7VF8Rblt6tAzYAIZvcpxB9HT-Io"');
  const expires = Date.parse(res.headers.get('expires')!);
  const modified = Date.parse(res.headers.get('last-modified')!);
  assert.ok(expires - modified >= 59_000 && expires - modified <= 61_000, `${res.headers.get('expires')} / ${res.headers.get('last-modified')}`);
  assert.equal(res.headers.get('access-control-allow-origin'), '*');
  assert.equal(res.headers.get('access-control-expose-headers'), 'etag');
  assert.equal(res.headers.get('cache-control'), 'no-store, no-transform');
  assert.equal(res.headers.get('pragma'), 'no-cache');
});

test('GET returns the body as text/plain; If-None-Match with the current ETag gets 304', { skip: embedded }, async () => {
  const s = await session(a.url, freshIp(), 'foo=bar');
  const res = await fetch(`${b.url}${s.path}`);
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('content-type'), 'text/plain');
  assert.equal(res.headers.get('etag'), s.etag);
  assert.equal(res.headers.get('access-control-allow-origin'), '*');
  assert.equal(await res.text(), 'foo=bar');
  const unchanged = await fetch(`${b.url}${s.path}`, { headers: { 'if-none-match': s.etag } });
  assert.equal(unchanged.status, 304);
  assert.equal(unchanged.headers.get('etag'), s.etag);
});

test('PUT with the current ETag answers 202 with a new one; a stale If-Match gets 412 M_CONCURRENT_WRITE', { skip: embedded }, async () => {
  const s = await session(a.url);
  const put = (base: string, body: string, ifMatch: string) =>
    fetch(`${base}${s.path}`, { method: 'PUT', headers: { 'content-type': 'text/plain', 'if-match': ifMatch }, body });

  const first = await put(b.url, 'foo=baz', s.etag);
  assert.equal(first.status, 202);
  assert.equal(first.headers.get('content-type'), 'text/plain');
  assert.equal(await first.text(), '');
  const etag = first.headers.get('etag')!;
  assert.notEqual(etag, s.etag);

  const stale = await put(a.url, 'bar=baz', s.etag);
  assert.equal(stale.status, 412);
  assert.deepEqual(await stale.json(), { errcode: 'M_UNKNOWN', error: 'ETag does not match', 'org.matrix.msc4108.errcode': 'M_CONCURRENT_WRITE' });
  assert.equal(stale.headers.get('etag'), etag);
  assert.equal(stale.headers.get('access-control-allow-origin'), '*');

  // The stale write changed nothing; an old If-None-Match sees the new data.
  const read = await fetch(`${a.url}${s.path}`, { headers: { 'if-none-match': s.etag } });
  assert.equal(read.status, 200);
  assert.equal(await read.text(), 'foo=baz');

  const missing = await fetch(`${a.url}${s.path}`, { method: 'PUT', headers: { 'content-type': 'text/plain' }, body: 'x' });
  assert.equal(missing.status, 400);
  assert.equal(((await missing.json()) as { errcode: string }).errcode, 'M_MISSING_PARAM');
});

test('concurrent writers with the same ETag on both instances: exactly one wins', { skip: embedded }, async () => {
  const s = await session(a.url);
  const results = await Promise.all(
    Array.from({ length: 8 }, (_, i) =>
      fetch(`${i % 2 ? a.url : b.url}${s.path}`, { method: 'PUT', headers: { 'content-type': 'text/plain', 'if-match': s.etag }, body: `writer ${i}` }),
    ),
  );
  assert.deepEqual(results.map((r) => r.status).sort(), [202, 412, 412, 412, 412, 412, 412, 412]);
});

test('a body over 4 KiB gets 413 M_TOO_LARGE and a type other than text/plain 400 M_INVALID_PARAM', { skip: embedded }, async () => {
  const big = await create(a.url, freshIp(), 'x'.repeat(5 * 1024));
  assert.equal(big.status, 413);
  assert.equal(((await big.json()) as { errcode: string }).errcode, 'M_TOO_LARGE');
  assert.equal(big.headers.get('access-control-allow-origin'), '*');
  assert.equal((await create(a.url, freshIp(), 'x'.repeat(4096))).status, 201);

  for (const type of ['application/json', 'application/x-www-form-urlencoded', 'text/plain; charset=utf-8']) {
    const wrong = await create(a.url, freshIp(), 'foo=bar', { 'content-type': type });
    assert.equal(wrong.status, 400, type);
    assert.equal(((await wrong.json()) as { errcode: string }).errcode, 'M_INVALID_PARAM', type);
  }

  const s = await session(a.url);
  const put = await fetch(`${a.url}${s.path}`, { method: 'PUT', headers: { 'content-type': 'application/json', 'if-match': s.etag }, body: '{}' });
  assert.equal(put.status, 400);
  const bigPut = await fetch(`${a.url}${s.path}`, { method: 'PUT', headers: { 'content-type': 'text/plain', 'if-match': s.etag }, body: 'y'.repeat(5000) });
  assert.equal(bigPut.status, 413);
});

test('DELETE answers 204, then the session is gone; unknown and malformed ids are 404 M_NOT_FOUND', { skip: embedded }, async () => {
  const s = await session(a.url);
  const deleted = await fetch(`${b.url}${s.path}`, { method: 'DELETE' });
  assert.equal(deleted.status, 204);
  assert.equal(deleted.headers.get('access-control-allow-origin'), '*');
  for (const path of [s.path, '/_synapse/client/rendezvous/01ARZ3NDEKTSV4RRFFQ69G5FAV', '/_synapse/client/rendezvous/not-a-ulid']) {
    const res = await fetch(`${a.url}${path}`);
    assert.equal(res.status, 404, path);
    assert.equal(((await res.json()) as { errcode: string }).errcode, 'M_NOT_FOUND', path);
  }
  assert.equal((await fetch(`${a.url}${s.path}`, { method: 'DELETE' })).status, 404);
});

test('other methods get 405 and other paths under the rendezvous 400, both M_UNRECOGNIZED', { skip: embedded }, async () => {
  const s = await session(a.url);
  for (const [method, path, status] of [
    ['GET', CREATE, 405],
    ['POST', s.path, 405],
    ['GET', `${s.path}/more`, 400],
    ['GET', '/_synapse/client/rendezvous', 400],
  ] as const) {
    const res = await fetch(`${a.url}${path}`, { method });
    assert.equal(res.status, status, `${method} ${path}`);
    assert.equal(((await res.json()) as { errcode: string }).errcode, 'M_UNRECOGNIZED');
    assert.equal(res.headers.get('access-control-allow-origin'), '*');
  }
});

test('a burst of creations from one address is limited across both instances: 429 M_LIMIT_EXCEEDED with retry_after_ms', { skip: embedded }, async () => {
  const ip = freshIp();
  const statuses: number[] = [];
  let limited: Response | undefined;
  for (let i = 0; i < BURST + 2; i += 1) {
    const res = await create(i % 2 ? b.url : a.url, ip);
    statuses.push(res.status);
    if (res.status === 429) limited = res;
    else await res.body?.cancel();
  }
  assert.deepEqual(statuses, [...Array(BURST).fill(201), 429, 429]);
  const body = (await limited!.json()) as { errcode: string; retry_after_ms: number };
  assert.equal(body.errcode, 'M_LIMIT_EXCEEDED');
  assert.ok(Number.isInteger(body.retry_after_ms) && body.retry_after_ms > 0);
  assert.equal(limited!.headers.get('retry-after'), String(Math.ceil(body.retry_after_ms / 1000)));
  assert.equal(limited!.headers.get('access-control-allow-origin'), '*');
  // Another address is not affected.
  assert.equal((await create(a.url, freshIp())).status, 201);
});

test('a preflight from Element Web gets 204 with the methods and the conditional headers', { skip: embedded }, async () => {
  const s = await session(a.url);
  for (const [path, method] of [
    [CREATE, 'POST'],
    [s.path, 'PUT'],
    [s.path, 'GET'],
    [s.path, 'DELETE'],
  ] as const) {
    const res = await fetch(`${a.url}${path}`, {
      method: 'OPTIONS',
      headers: { origin: ORIGIN, 'access-control-request-method': method, 'access-control-request-headers': 'content-type, if-match' },
    });
    assert.equal(res.status, 204, path);
    assert.equal(res.headers.get('access-control-allow-origin'), '*', path);
    assert.ok(res.headers.get('access-control-allow-methods')?.split(', ').includes(method), path);
    assert.equal(res.headers.get('access-control-allow-headers'), 'Content-Type, If-Match, If-None-Match', path);
  }
  const browserRead = await fetch(`${a.url}${s.path}`, { headers: { origin: ORIGIN } });
  assert.equal(browserRead.headers.get('access-control-allow-origin'), '*');
  assert.equal(browserRead.headers.get('access-control-expose-headers'), 'etag');
});
