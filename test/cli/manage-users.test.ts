// `mauth manage list-admin-users | kill-sessions | provision-all-users | lock-user --deactivate |
// unlock-user --reactivate | set-password --ignore-complexity`, run as an operator runs them
// against a running Mauth and the homeserver double: what a client sees afterwards (tokens,
// logins, pages) and what reached the homeserver.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';
import postgres from 'postgres';
import { startHomeserverDouble, type HomeserverDouble } from '../support/homeserver-double.js';
import { Browser } from '../support/http-client.js';
import { createMauth, type MauthInstance } from '../support/mauth-process.js';
import { authorize, introspect, registerNativeClient, tokenRequest } from '../support/oauth-client.js';

const SERVER_NAME = 'manage.test';
const API_SCOPE = 'openid urn:matrix:client:api:*';
const embedded = process.env.MAUTH_TEST_DATABASE === 'embedded';

let hs: HomeserverDouble;
let mauth: MauthInstance;

const passwordOf = (name: string) => `${name}-Correct-Horse-Battery-42`;

before(async () => {
  const secret = randomBytes(16).toString('hex');
  hs = await startHomeserverDouble({ secret, serverName: SERVER_NAME });
  mauth = await createMauth({ homeserverUrl: hs.url, serverName: SERVER_NAME, secret });
  for (const [name, ...extra] of [['kim'], ['dora'], ['root', '--admin'], ['sam'], ['ana', '-a']]) {
    const made = await mauth.cli('manage', 'register-user', name, '--password', passwordOf(name), '--email', `${name}@mail.test`, ...extra, '--yes');
    assert.equal(made.code, 0, made.stderr);
  }
  await mauth.start();
});

after(async () => {
  await mauth?.stop();
  await mauth?.drop();
  await hs?.stop();
});

async function compatLogin(user: string, password: string, deviceId?: string) {
  const res = await fetch(`${mauth.url}/_matrix/client/v3/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ type: 'm.login.password', identifier: { type: 'm.id.user', user }, password, ...(deviceId ? { device_id: deviceId } : {}) }),
  });
  return { status: res.status, body: (await res.json()) as Record<string, any> };
}

/** An OAuth 2.0 session on `deviceId` through the browser (which keeps a browser session). */
async function oauthSession(user: string, deviceId: string) {
  const browser = new Browser(mauth.url);
  const client = await registerNativeClient(mauth.url);
  const { params, verifier } = await authorize(browser, { client, scope: `${API_SCOPE} urn:matrix:client:device:${deviceId}`, username: user, password: passwordOf(user) });
  const tokens = await tokenRequest(mauth.url, { grant_type: 'authorization_code', code: params.get('code')!, redirect_uri: client.redirect_uri, client_id: client.client_id, code_verifier: verifier });
  assert.equal(tokens.status, 200, JSON.stringify(tokens.body));
  return { browser, accessToken: tokens.body.access_token as string };
}

const active = async (token: string) => (await introspect(mauth.url, mauth.secret, token)).body.active as boolean;
const signedIn = async (browser: Browser) => (await browser.get('/account/emails')).status === 200;

test('list-admin-users lists exactly the users who may request admin access', async () => {
  const { code, stdout } = await mauth.cli('manage', 'list-admin-users');
  assert.equal(code, 0);
  const rows = stdout.trim().split('\n').map((line) => line.split('\t'));
  assert.deepEqual(rows.map((r) => r.slice(0, 2)), [
    ['ana', `@ana:${SERVER_NAME}`],
    ['root', `@root:${SERVER_NAME}`],
  ]);
  assert.ok(rows.every((r) => /^[0-9A-Z]{26}$/.test(r[2])), 'each row ends with the user id');
});

test('kill-sessions --dry-run counts every kind of session and ends none; without it every one ends', async () => {
  const compat = await compatLogin('kim', passwordOf('kim'), 'KIMCOMPAT1');
  assert.equal(compat.status, 200, JSON.stringify(compat.body));
  const oauth = await oauthSession('kim', 'KIMOAUTH01');

  const dry = await mauth.cli('manage', 'kill-sessions', 'kim', '--dry-run');
  assert.equal(dry.code, 0, dry.stderr);
  assert.match(dry.stdout, /^would end 1 OAuth 2\.0 session, 1 compatibility session, 1 browser session of kim/);
  assert.equal(await active(oauth.accessToken), true);
  assert.equal(await active(compat.body.access_token), true);
  assert.equal(await signedIn(oauth.browser), true);

  const since = new Date();
  const killed = await mauth.cli('manage', 'kill-sessions', 'kim');
  assert.equal(killed.code, 0, killed.stderr);
  assert.match(killed.stdout, /^ended 1 OAuth 2\.0 session, 1 compatibility session, 1 browser session of kim/);
  assert.equal(await active(oauth.accessToken), false, 'the OAuth 2.0 token is dead');
  assert.equal(await active(compat.body.access_token), false, 'the compatibility token is dead');
  assert.equal(await signedIn(oauth.browser), false, 'the browser is signed out');
  await hs.waitFor((c) => c.path.endsWith('/delete_device') && c.at >= since && (c.body as any)?.device_id === 'KIMOAUTH01');
  await hs.waitFor((c) => c.path.endsWith('/sync_devices') && c.at >= since && (c.body as any)?.localpart === 'kim' && !(c.body as any).devices.includes('KIMCOMPAT1'));

  const again = await mauth.cli('manage', 'kill-sessions', 'kim', '--dry-run');
  assert.match(again.stdout, /^would end 0 OAuth 2\.0 sessions, 0 compatibility sessions, 0 browser sessions of kim/);
  assert.equal((await mauth.cli('manage', 'kill-sessions', 'nobody')).code, 1, 'an unknown user is an error');
});

test('provision-all-users queues one provisioning job per user, which the worker sends', async () => {
  const since = new Date();
  const { code, stdout } = await mauth.cli('manage', 'provision-all-users');
  assert.equal(code, 0);
  assert.match(stdout, /^queued provisioning of 5 users/);
  for (const name of ['kim', 'dora', 'root', 'sam', 'ana']) {
    await hs.waitFor((c) => c.path.endsWith('/provision_user') && c.at >= since && (c.body as any)?.localpart === name);
  }
});

test('lock-user --deactivate ends the sessions, forgets the addresses and deactivates on the homeserver; unlock-user --reactivate undoes it', async () => {
  const compat = await compatLogin('dora', passwordOf('dora'), 'DORACOMPAT');
  assert.equal(compat.status, 200);
  const since = new Date();
  const locked = await mauth.cli('manage', 'lock-user', 'dora', '--deactivate');
  assert.equal(locked.code, 0, locked.stderr);
  assert.match(locked.stdout, /^dora locked and deactivated; ended 0 OAuth 2\.0 sessions, 1 compatibility session, 0 browser sessions/);
  assert.equal(await active(compat.body.access_token), false);
  const deleted = await hs.waitFor((c) => c.path.endsWith('/delete_user') && c.at >= since && (c.body as any)?.localpart === 'dora');
  assert.deepEqual(deleted.body, { localpart: 'dora', erase: false });
  assert.equal(hs.users.get('dora')?.deactivated, true);
  assert.equal((await compatLogin('dora', passwordOf('dora'))).body.errcode, 'M_USER_DEACTIVATED');
  if (!embedded) {
    const sql = postgres(mauth.databaseUrl, { max: 1, onnotice: () => {} });
    try {
      assert.equal((await sql`SELECT 1 FROM user_emails e JOIN users u ON u.id = e.user_id WHERE u.username = 'dora'`).length, 0, 'addresses forgotten');
    } finally {
      await sql.end();
    }
  }

  const reactivatedAt = new Date();
  const unlocked = await mauth.cli('manage', 'unlock-user', 'dora', '--reactivate');
  assert.equal(unlocked.code, 0, unlocked.stderr);
  assert.match(unlocked.stdout, /^dora unlocked and reactivated/);
  const reactivated = await hs.waitFor((c) => c.path.endsWith('/reactivate_user') && c.at >= reactivatedAt);
  await hs.waitFor((c) => c.path.endsWith('/provision_user') && c.at >= reactivated.at && (c.body as any)?.localpart === 'dora' && (c.body as any)?.locked === false);
  assert.equal(hs.users.get('dora')?.deactivated, false);
  assert.equal((await compatLogin('dora', passwordOf('dora'))).status, 200, 'dora signs in again');
});

test('lock-user alone locks (tokens stop, devices stay); unlock-user alone unlocks', async () => {
  const compat = await compatLogin('sam', passwordOf('sam'), 'SAMCOMPAT1');
  const locked = await mauth.cli('manage', 'lock-user', 'sam');
  assert.equal(locked.stdout.trim(), 'sam locked');
  assert.equal(await active(compat.body.access_token), false);
  assert.equal((await compatLogin('sam', passwordOf('sam'))).body.errcode, 'M_USER_LOCKED');
  assert.equal((await mauth.cli('manage', 'unlock-user', 'sam')).stdout.trim(), 'sam unlocked');
  assert.equal(await active(compat.body.access_token), true, 'the session comes back with the unlock');
  assert.equal(hs.users.get('sam')?.deactivated, false);
});

test('set-password refuses a weak password unless --ignore-complexity; the new password signs in', async () => {
  const weak = await mauth.cli('manage', 'set-password', 'root', 'password1');
  assert.equal(weak.code, 1);
  assert.match(weak.stderr, /too weak.*--ignore-complexity/);
  assert.equal((await compatLogin('root', 'password1')).status, 403, 'nothing changed');

  const forced = await mauth.cli('manage', 'set-password', 'root', 'password1', '--ignore-complexity');
  assert.equal(forced.code, 0, forced.stderr);
  assert.equal((await compatLogin('root', 'password1')).status, 200);

  const strong = await mauth.cli('manage', 'set-password', 'root', 'Another-Long-Passphrase-77');
  assert.equal(strong.code, 0, strong.stderr);
  assert.equal((await compatLogin('root', 'Another-Long-Passphrase-77')).status, 200);
  assert.equal((await compatLogin('root', 'password1')).status, 403);
});
