// The device must exist on the homeserver before a token is handed out, even when the account's
// provisioning job has not run (here: no worker at all).
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';
import postgres from 'postgres';
import { startHomeserverDouble, type HomeserverDouble } from '../support/homeserver-double.js';
import { Browser } from '../support/http-client.js';
import { createMauth, type MauthInstance } from '../support/mauth-process.js';
import { authorize, introspect, registerNativeClient, tokenRequest } from '../support/oauth-client.js';

let hs: HomeserverDouble;
let mauth: MauthInstance;

before(async () => {
  const secret = randomBytes(16).toString('hex');
  hs = await startHomeserverDouble({ secret, serverName: 'sync.test' });
  mauth = await createMauth({ homeserverUrl: hs.url, serverName: 'sync.test', secret });
});

after(async () => {
  await mauth?.stop();
  await mauth?.drop();
  await hs?.stop();
});

test('two instances migrating one database at once both succeed and apply each migration once', async () => {
  const results = await Promise.all([mauth.cli('database', 'migrate'), mauth.cli('database', 'migrate')]);
  for (const r of results) assert.equal(r.code, 0, r.stderr);
  const sql = postgres(mauth.databaseUrl, { max: 1, onnotice: () => {} });
  try {
    const rows = await sql<{ name: string; n: number }[]>`SELECT name, count(*)::int AS n FROM mauth_migrations GROUP BY name`;
    assert.ok(rows.length >= 1);
    assert.ok(rows.every((r) => r.n === 1));
  } finally {
    await sql.end();
  }
});

test('a user whose provisioning job has not run yet is provisioned before the device is created', async () => {
  const created = await mauth.cli('manage', 'register-user', 'bob', '--password', 'bob-password-1', '--display-name', 'Bob', '--yes');
  assert.equal(created.code, 0, created.stderr);
  await mauth.start('--no-worker');
  assert.equal(hs.users.has('bob'), false, 'nothing provisioned without a worker');

  const client = await registerNativeClient(mauth.url);
  const deviceId = 'SYNCDEVICE01';
  const { params, verifier } = await authorize(new Browser(mauth.url), {
    client,
    scope: `openid urn:matrix:client:api:* urn:matrix:client:device:${deviceId}`,
    username: 'bob',
    password: 'bob-password-1',
  });
  const tokens = await tokenRequest(mauth.url, {
    grant_type: 'authorization_code',
    code: params.get('code')!,
    redirect_uri: client.redirect_uri,
    client_id: client.client_id,
    code_verifier: verifier,
  });
  assert.equal(tokens.status, 200, JSON.stringify(tokens.body));
  assert.ok(tokens.body.scope.includes(`urn:matrix:client:device:${deviceId}`), 'the token response names the device');
  assert.equal(hs.users.get('bob')?.displayName, 'Bob');
  assert.ok(hs.devices('bob').has(deviceId));
  const paths = hs.calls.map((c) => c.path.split('/').pop());
  assert.ok(paths.indexOf('provision_user') < paths.lastIndexOf('upsert_device'));
  assert.equal((await introspect(mauth.url, mauth.secret, tokens.body.access_token)).body.active, true);
});
