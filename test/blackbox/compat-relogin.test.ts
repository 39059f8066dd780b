// Black box: a legacy re-login on a device that already has a session, while the homeserver
// cannot create devices, must leave the existing session and its device alone.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';
import { startHomeserverDouble, type HomeserverDouble } from '../support/homeserver-double.js';
import { createInProcessMauth, type InProcessMauth } from '../support/mauth-inprocess.js';
import { introspect } from '../support/oauth-client.js';

const SERVER_NAME = 'relogin.test';
const DEVICE = 'KEEPDEV001';

let hs: HomeserverDouble;
let mauth: InProcessMauth;

before(async () => {
  const secret = randomBytes(16).toString('hex');
  hs = await startHomeserverDouble({ secret, serverName: SERVER_NAME });
  mauth = await createInProcessMauth({ homeserverUrl: hs.url, serverName: SERVER_NAME, secret });
  const r = await mauth.cli('manage', 'register-user', 'dave', '--password', 'dave-pw-123456', '--yes');
  assert.equal(r.code, 0, r.stderr);
  await mauth.start();
});

after(async () => {
  await mauth?.stop();
  await mauth?.drop();
  await hs?.stop();
});

async function login(deviceId: string) {
  const res = await fetch(`${mauth.url}/_matrix/client/v3/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ type: 'm.login.password', identifier: { type: 'm.id.user', user: 'dave' }, password: 'dave-pw-123456', device_id: deviceId }),
  });
  return { status: res.status, body: (await res.json()) as { access_token?: string; errcode?: string } };
}

test('a re-login on an existing device replaces the earlier session once the homeserver has the device', async () => {
  const first = await login('SWAPDEV001');
  assert.equal(first.status, 200);
  const second = await login('SWAPDEV001');
  assert.equal(second.status, 200);
  assert.equal((await introspect(mauth.url, mauth.secret, first.body.access_token!)).body.active, false, 'the earlier token is dead');
  assert.equal((await introspect(mauth.url, mauth.secret, second.body.access_token!)).body.active, true);
  await mauth.jobsSettled();
  assert.ok(hs.devices('dave').has('SWAPDEV001'), 'the device stays');
});

test('a re-login on an existing device that the homeserver refuses keeps the earlier session and its device', async () => {
  const first = await login(DEVICE);
  assert.equal(first.status, 200);
  const token = first.body.access_token!;
  assert.equal((await introspect(mauth.url, mauth.secret, token)).body.active, true);
  await mauth.jobsSettled();

  hs.failNext('upsert_device', 10, 500);
  const second = await login(DEVICE);
  assert.equal(second.status, 503);
  assert.equal(second.body.errcode, 'M_UNKNOWN');

  assert.equal((await introspect(mauth.url, mauth.secret, token)).body.active, true, 'the first session still works');
  await mauth.jobsSettled();
  const deletions = hs.calls.filter((c) => c.path.endsWith('/delete_device') && (c.body as { device_id?: string })?.device_id === DEVICE);
  assert.deepEqual(deletions, [], 'no deletion of the device was sent');
  assert.ok(hs.devices('dave').has(DEVICE), 'the device is still on the homeserver');
  assert.equal((await introspect(mauth.url, mauth.secret, token)).body.active, true);
});
