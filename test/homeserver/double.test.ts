// The homeserver double answers malformed and unauthenticated requests the way Synapse does, so
// tests that pass against it do not pass by accident.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startHomeserverDouble, type HomeserverDouble } from '../support/homeserver-double.js';

const SECRET = 'double-secret';
let double: HomeserverDouble;

async function call(
  method: string,
  name: string,
  options: { body?: string; auth?: string | null; query?: string } = {},
): Promise<{ status: number; json: unknown }> {
  const headers: Record<string, string> = {};
  if (options.auth !== null) headers.authorization = options.auth ?? `Bearer ${SECRET}`;
  if (options.body !== undefined) headers['content-type'] = 'application/json';
  const response = await fetch(`${double.url}/_synapse/mas/${name}${options.query ?? ''}`, {
    method,
    headers,
    body: options.body,
  });
  const text = await response.text();
  return { status: response.status, json: text ? JSON.parse(text) : undefined };
}

before(async () => {
  double = await startHomeserverDouble({ secret: SECRET, serverName: 'double.test' });
});
after(async () => {
  await double.stop();
});

test('authentication: missing token 401 M_MISSING_TOKEN, wrong token 403 M_UNKNOWN', async () => {
  let r = await call('POST', 'provision_user', { body: '{"localpart":"a"}', auth: null });
  assert.equal(r.status, 401);
  assert.deepEqual(r.json, { errcode: 'M_MISSING_TOKEN', error: 'Missing access token.' });

  r = await call('POST', 'provision_user', { body: '{"localpart":"a"}', auth: `Basic ${SECRET}` });
  assert.equal(r.status, 401);
  assert.equal((r.json as { errcode: string }).errcode, 'M_MISSING_TOKEN');

  r = await call('POST', 'provision_user', { body: '{"localpart":"a"}', auth: 'Bearer wrong' });
  assert.equal(r.status, 403);
  assert.equal((r.json as { errcode: string }).errcode, 'M_UNKNOWN');
  assert.equal(double.users.size, 0);
});

test('body checks: M_NOT_JSON, M_BAD_JSON, M_MISSING_PARAM', async () => {
  const errcode = async (name: string, body: string) => {
    const r = await call('POST', name, { body });
    assert.equal(r.status, 400, `${name} ${body}`);
    return (r.json as { errcode: string }).errcode;
  };
  assert.equal(await errcode('provision_user', 'not json'), 'M_NOT_JSON');
  assert.equal(await errcode('provision_user', ''), 'M_NOT_JSON');
  assert.equal(await errcode('provision_user', '[1]'), 'M_BAD_JSON');
  assert.equal(await errcode('provision_user', '{}'), 'M_MISSING_PARAM');
  assert.equal(await errcode('provision_user', '{"localpart": 5}'), 'M_BAD_JSON');
  assert.equal(await errcode('provision_user', '{"localpart":"a","set_emails":"a@b"}'), 'M_BAD_JSON');
  assert.equal(
    await errcode('provision_user', '{"localpart":"a","set_displayname":"A","unset_displayname":false}'),
    'M_BAD_JSON',
    'set_ and unset_ together are refused even when unset_ is false',
  );
  assert.equal(await errcode('delete_user', '{"localpart":"a"}'), 'M_MISSING_PARAM');
  assert.equal(await errcode('upsert_device', '{}'), 'M_BAD_JSON', 'two fields missing');
  assert.equal(await errcode('sync_devices', '{"localpart":"a","devices":[1]}'), 'M_BAD_JSON');
  assert.equal(double.users.size, 0);
});

test('query parameters, unknown paths and methods', async () => {
  let r = await call('GET', 'query_user');
  assert.equal(r.status, 400);
  assert.equal((r.json as { errcode: string }).errcode, 'M_MISSING_PARAM');
  r = await call('GET', 'is_localpart_available');
  assert.equal(r.status, 400);
  r = await call('GET', 'is_localpart_available', { query: '?localpart=_hidden' });
  assert.equal((r.json as { errcode: string }).errcode, 'M_INVALID_USERNAME');
  r = await call('GET', 'is_localpart_available', { query: '?localpart=1234' });
  assert.equal((r.json as { errcode: string }).errcode, 'M_INVALID_USERNAME');
  r = await call('GET', 'provision_user');
  assert.equal(r.status, 405);
  r = await call('POST', 'no_such_thing', { body: '{}' });
  assert.equal(r.status, 404);
  assert.equal((r.json as { errcode: string }).errcode, 'M_UNRECOGNIZED');
});

test('state: provision_user defaults the display name to the localpart; delete_device is 204 with no body', async () => {
  let r = await call('POST', 'provision_user', { body: '{"localpart":"zed","set_emails":["z@example.org"]}' });
  assert.equal(r.status, 201);
  assert.deepEqual(r.json, {});
  assert.equal(double.users.get('zed')?.displayName, 'zed');
  r = await call('POST', 'delete_device', { body: '{"localpart":"zed","device_id":"X"}' });
  assert.equal(r.status, 204);
  assert.equal(r.json, undefined);
  r = await call('POST', 'delete_device', { body: '{"localpart":"nobody","device_id":"X"}' });
  assert.equal(r.status, 404);
  assert.equal((r.json as { errcode: string }).errcode, 'M_NOT_FOUND');
});

test('waitFor resolves with past and future calls, and times out', async () => {
  const past = await double.waitFor((c) => c.path.endsWith('/provision_user') && c.status === 201, 100);
  assert.deepEqual(past.body, { localpart: 'zed', set_emails: ['z@example.org'] });

  const future = double.waitFor((c) => c.path.endsWith('/reactivate_user'), 2000);
  await call('POST', 'reactivate_user', { body: '{"localpart":"zed"}' });
  assert.equal((await future).status, 200);

  await assert.rejects(double.waitFor((c) => c.path.endsWith('/never'), 50), /no matching homeserver call/);
});

test('failNext fails the given number of calls, then behaves', async () => {
  double.failNext('set_displayname', 2, 502);
  const statuses = [];
  for (let i = 0; i < 3; i++) {
    statuses.push((await call('POST', 'set_displayname', { body: '{"localpart":"zed","displayname":"Z"}' })).status);
  }
  assert.deepEqual(statuses, [502, 502, 200]);
  assert.equal(double.users.get('zed')?.displayName, 'Z');
});
