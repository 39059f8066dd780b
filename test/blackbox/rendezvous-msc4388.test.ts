// Black box: the built-in MSC4388 rendezvous (MSC4108's successor), as Synapse's `msc4388_mode:
// open` serves it: JSON bodies, sequence tokens, 409 on a concurrent write, 120 s from creation.
// The server runs in this process and its clock jumps over the lifetime.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { request } from 'node:http';
import { after, before, test } from 'node:test';
import { startHomeserverDouble, type HomeserverDouble } from '../support/homeserver-double.js';
import { createInProcessMauth, type InProcessMauth } from '../support/mauth-inprocess.js';

const PATH = '/_matrix/client/unstable/io.element.msc4388/rendezvous';
let hs: HomeserverDouble;
let mauth: InProcessMauth;

before(async () => {
  const secret = randomBytes(16).toString('hex');
  hs = await startHomeserverDouble({ secret, serverName: 'msc4388.test' });
  mauth = await createInProcessMauth({
    homeserverUrl: hs.url,
    serverName: 'msc4388.test',
    secret,
    extra: { rate_limiting: { rendezvous: { burst: 1000, per_second: 1000 } } },
  });
  await mauth.start();
});

after(async () => {
  await mauth?.stop();
  await mauth?.drop();
  await hs?.stop();
});

async function call(method: string, path: string, body?: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(`${mauth.url}${path}`, {
    method,
    headers: { 'content-type': 'application/json', ...headers },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: text ? JSON.parse(text) : undefined };
}

async function create(data = 'foo=bar'): Promise<{ id: string; token: string; path: string }> {
  const res = await call('POST', PATH, { data });
  assert.equal(res.status, 200, JSON.stringify(res.body));
  return { id: res.body.id, token: res.body.sequence_token, path: `${PATH}/${res.body.id}` };
}

test('discovery says creation is available, without authentication', async () => {
  const res = await call('GET', PATH);
  assert.equal(res.status, 200);
  assert.deepEqual(res.body, { create_available: true });
  assert.equal(res.headers.get('access-control-allow-origin'), '*');
});

test('create, read, write with the sequence token, delete', async () => {
  const created = await call('POST', PATH, { data: 'foo=bar' });
  assert.equal(created.status, 200);
  assert.match(created.body.id, /^[0-7][0-9A-HJKMNP-TV-Z]{25}$/);
  assert.equal(typeof created.body.sequence_token, 'string');
  assert.equal(created.body.expires_in_ms, 120_000);
  assert.equal(created.headers.get('access-control-allow-origin'), '*');
  assert.equal(created.headers.get('cache-control'), 'no-store');
  const path = `${PATH}/${created.body.id}`;

  const read = await call('GET', path);
  assert.equal(read.status, 200);
  assert.deepEqual(read.body, { data: 'foo=bar', sequence_token: created.body.sequence_token, expires_in_ms: read.body.expires_in_ms });
  assert.ok(read.body.expires_in_ms > 0 && read.body.expires_in_ms <= 120_000);

  const written = await call('PUT', path, { sequence_token: created.body.sequence_token, data: 'foo=baz' });
  assert.equal(written.status, 200);
  assert.notEqual(written.body.sequence_token, created.body.sequence_token);
  assert.deepEqual(Object.keys(written.body), ['sequence_token']);

  const again = await call('GET', path);
  assert.equal(again.body.data, 'foo=baz');
  assert.equal(again.body.sequence_token, written.body.sequence_token);

  const deleted = await call('DELETE', path);
  assert.equal(deleted.status, 200);
  assert.deepEqual(deleted.body, {});
  const gone = await call('GET', path);
  assert.equal(gone.status, 404);
  assert.equal(gone.body.errcode, 'M_NOT_FOUND');
});

test('a write with a stale sequence token gets 409 and changes nothing; a retry of the last write is accepted', async () => {
  const s = await create();
  const first = await call('PUT', s.path, { sequence_token: s.token, data: 'foo=baz' });
  assert.equal(first.status, 200);

  const conflict = await call('PUT', s.path, { sequence_token: s.token, data: 'bar=baz' });
  assert.equal(conflict.status, 409);
  assert.equal(conflict.body.errcode, 'IO_ELEMENT_MSC4388_CONCURRENT_WRITE');
  assert.equal(conflict.headers.get('access-control-allow-origin'), '*');

  // The same write again (its answer lost on the way): the token it replaced, the same data.
  const retry = await call('PUT', s.path, { sequence_token: s.token, data: 'foo=baz' });
  assert.equal(retry.status, 200);
  assert.equal(retry.body.sequence_token, first.body.sequence_token);

  const read = await call('GET', s.path);
  assert.equal(read.body.data, 'foo=baz');
  assert.equal(read.body.sequence_token, first.body.sequence_token);
});

test('concurrent writers with one sequence token: exactly one wins, the others get 409', async () => {
  const s = await create();
  const results = await Promise.all(Array.from({ length: 6 }, (_, i) => call('PUT', s.path, { sequence_token: s.token, data: `writer ${i}` })));
  assert.deepEqual(results.map((r) => r.status).sort(), [200, 409, 409, 409, 409, 409]);
});

test('data that is not a string is 400 M_INVALID_PARAM; over 4 KiB is 413 M_TOO_LARGE', async () => {
  for (const data of [123, ['a'], { a: 1 }, null]) {
    const res = await call('POST', PATH, { data });
    assert.equal(res.status, 400, JSON.stringify(data));
    assert.equal(res.body.errcode, 'M_INVALID_PARAM');
  }
  for (const body of ['{not json', '"just a string"', '{}']) {
    const res = await call('POST', PATH, body);
    assert.equal(res.status, 400, body);
    assert.equal(res.body.errcode, 'M_INVALID_PARAM', body);
  }
  const big = await call('POST', PATH, { data: 'a'.repeat(5000) });
  assert.equal(big.status, 413);
  assert.equal(big.body.errcode, 'M_TOO_LARGE');
  // 4 KiB counted in bytes: 2048 two-byte characters fit, one more does not.
  assert.equal((await call('POST', PATH, { data: 'é'.repeat(2048) })).status, 200);
  assert.equal((await call('POST', PATH, { data: 'é'.repeat(2049) })).status, 413);

  const s = await create();
  const missingToken = await call('PUT', s.path, { data: 'x' });
  assert.equal(missingToken.status, 400);
  assert.equal((await call('PUT', s.path, { sequence_token: s.token, data: 'a'.repeat(5000) })).status, 413);
});

test('data is stored exactly or refused: bytes that are not UTF-8 and lone surrogates are 400 M_INVALID_PARAM', async () => {
  const post = (body: Buffer) => fetch(`${mauth.url}${PATH}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: new Uint8Array(body) });
  for (const body of [Buffer.from('{"data":"\xff\xfe"}', 'latin1'), Buffer.from('{"data":"a\\ud800b"}'), Buffer.from('{"data":"\\udfff"}')]) {
    const res = await post(body);
    assert.equal(res.status, 400, body.toString('latin1'));
    assert.equal(((await res.json()) as { errcode: string }).errcode, 'M_INVALID_PARAM', body.toString('latin1'));
  }
  const s = await create();
  const put = await call('PUT', s.path, `{"sequence_token":"${s.token}","data":"\\ud800"}`);
  assert.equal(put.status, 400);
  assert.equal(put.body.errcode, 'M_INVALID_PARAM');

  // A character outside the BMP (a surrogate pair in JSON) and NUL round-trip unchanged.
  const data = 'smile \u{1F600} \u0000 end';
  const ok = await call('POST', PATH, `{"data":"smile \\ud83d\\ude00 \\u0000 end"}`);
  assert.equal(ok.status, 200);
  const read = await call('GET', `${PATH}/${ok.body.id}`);
  assert.equal(read.body.data, data);
});

/** A GET with exactly these headers (fetch() sets the Sec-Fetch ones itself). */
function rawGet(path: string, headers: Record<string, string>): Promise<{ status: number; body: { errcode?: string } }> {
  return new Promise((resolve, reject) => {
    const req = request(`${mauth.url}${path}`, { headers }, (res) => {
      let text = '';
      res.on('data', (chunk) => (text += chunk));
      res.on('end', () => resolve({ status: res.statusCode!, body: JSON.parse(text) }));
    });
    req.on('error', reject);
    req.end();
  });
}

test('reads a browser would render or navigate to are refused (Fetch Metadata); a script fetch is served', async () => {
  const s = await create();
  for (const [name, value] of [
    ['sec-fetch-dest', 'document'],
    ['sec-fetch-dest', 'image'],
    ['sec-fetch-dest', 'iframe'],
    ['sec-fetch-mode', 'navigate'],
    ['sec-fetch-user', '?1'],
    ['sec-fetch-site', 'none'],
  ]) {
    const res = await rawGet(s.path, { [name]: value });
    assert.equal(res.status, 403, `${name}: ${value}`);
    assert.equal(res.body.errcode, 'M_FORBIDDEN');
  }
  const fetched = await rawGet(s.path, { 'sec-fetch-dest': 'empty', 'sec-fetch-mode': 'cors', 'sec-fetch-site': 'cross-site' });
  assert.equal(fetched.status, 200);
});

test('a session expires 120 s after its creation, writes or not', async () => {
  const s = await create();
  await mauth.advance(60);
  const written = await call('PUT', s.path, { sequence_token: s.token, data: 'still here' });
  assert.equal(written.status, 200);
  const read = await call('GET', s.path);
  assert.equal(read.status, 200);
  assert.ok(read.body.expires_in_ms <= 60_000 && read.body.expires_in_ms > 55_000, String(read.body.expires_in_ms));

  await mauth.advance(60);
  const gone = await call('GET', s.path);
  assert.equal(gone.status, 404);
  assert.equal(gone.body.errcode, 'M_NOT_FOUND');
  assert.equal((await call('PUT', s.path, { sequence_token: written.body.sequence_token, data: 'late' })).status, 404);
  assert.equal((await call('DELETE', s.path)).status, 404);
});

test('a preflight from Element Web gets 204 with the methods and headers', async () => {
  const s = await create();
  for (const [path, method] of [
    [PATH, 'POST'],
    [s.path, 'PUT'],
  ] as const) {
    const res = await fetch(`${mauth.url}${path}`, {
      method: 'OPTIONS',
      headers: { origin: 'https://app.element.io', 'access-control-request-method': method, 'access-control-request-headers': 'content-type' },
    });
    assert.equal(res.status, 204);
    assert.equal(res.headers.get('access-control-allow-origin'), '*');
    assert.ok(res.headers.get('access-control-allow-methods')?.split(', ').includes(method));
    assert.match(res.headers.get('access-control-allow-headers') ?? '', /Content-Type/);
  }
});
