// Black box: `mauth syn2mas migrate` against a Synapse database the test builds (Synapse's schema,
// bcrypt hashes with a pepper, syt_/syr_ tokens), then the migrated accounts used over HTTP as
// Synapse and clients would: old passwords, old tokens, upstream login, admin scope.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import postgres from 'postgres';
import { ulid } from 'ulid';
import { Browser } from '../support/http-client.js';
import { authorize, introspect, registerNativeClient, tokenRequest } from '../support/oauth-client.js';
import { startUpstreamSetup, type UpstreamSetup } from '../support/upstream-setup.js';
import { follow, upstreamLogin } from '../support/upstream-provider.js';
import { cleanUp, createSynapseDatabase, type SynapseDatabase } from './synapse-fixture.js';

const SERVER_NAME = 'syn.test';
const PEPPER = 'synapse-pepper-4711';
const PROVIDER = ulid();
const API = 'urn:matrix:client:api:*';

let setup: UpstreamSetup;
let synapse: SynapseDatabase;
let db: postgres.Sql;
let synapseBefore: string;
let migrateOutput: { stdout: string; stderr: string; code: number };
const tokens: Record<string, string> = {};
let alicePair: { accessToken: string; refreshToken: string };

async function compatLogin(user: string, password: string) {
  const res = await fetch(`${setup.mauth.url}/_matrix/client/v3/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ type: 'm.login.password', identifier: { type: 'm.id.user', user }, password }),
  });
  return { status: res.status, body: (await res.json()) as any };
}

async function currentHash(username: string) {
  const [row] = await db<{ hashed_password: string; version: number }[]>`
    SELECT p.hashed_password, p.version FROM user_passwords p JOIN users u ON u.id = p.user_id
    WHERE u.username = ${username} ORDER BY p.created_at DESC, p.id DESC LIMIT 1`;
  return row;
}

before(async () => {
  setup = await startUpstreamSetup({
    serverName: SERVER_NAME,
    providerId: PROVIDER,
    accounts: [{ sub: 'kc-frank', password: 'frank-upstream', preferred_username: 'frank', email: 'frank@corp.test', email_verified: true }],
    extra: {
      passwords: {
        schemes: [
          { version: 1, algorithm: 'bcrypt', secret: PEPPER, unicode_normalization: true },
          { version: 2, algorithm: 'argon2id' },
        ],
      },
    },
  });
  db = postgres(setup.mauth.databaseUrl, { max: 2, onnotice: () => {} });
  synapse = await createSynapseDatabase(SERVER_NAME, PEPPER);
  await synapse.user('root', { password: 'root-old-password', admin: true });
  await synapse.device('root', 'ROOTDEVICE');
  tokens.root = await synapse.accessToken('root', 'ROOTDEVICE');
  await synapse.user('alice', { password: 'ﬁsh and chips forever' });
  await synapse.device('alice', 'ALICEDESK');
  await synapse.device('alice', 'ALICEPHONE');
  tokens.alice = await synapse.accessToken('alice', 'ALICEDESK');
  alicePair = await synapse.refreshPair('alice', 'ALICEPHONE');
  await synapse.threepid('alice', 'email', 'Alice@Example.ORG');
  await synapse.threepid('alice', 'msisdn', '447700900123');
  await synapse.user('dora', { password: 'dora-old-password', deactivated: true });
  await synapse.device('dora', 'DORADEVICE');
  tokens.dora = await synapse.accessToken('dora', 'DORADEVICE');
  await synapse.user('lucy', { password: 'lucy-old-password', locked: true });
  await synapse.device('lucy', 'LUCYDEVICE');
  tokens.lucy = await synapse.accessToken('lucy', 'LUCYDEVICE');
  await synapse.user('12345', { guest: true });
  await synapse.device('12345', 'GUESTDEVICE');
  await synapse.user('_bridge_bot', { appservice: 'bridge' });
  await synapse.user('frank');
  await synapse.device('frank', 'FRANKDEVICE');
  tokens.frank = await synapse.accessToken('frank', 'FRANKDEVICE');
  await synapse.externalId('frank', 'oidc-keycloak', 'kc-frank');
  // Synapse has every user already; the homeserver double plays that part.
  for (const name of ['root', 'alice', 'dora', 'lucy', 'frank']) setup.hs.addUser(name, { displayName: `${name} in Synapse` });

  const dir = await mkdtemp(join(tmpdir(), 'syn2mas-'));
  const config = await synapse.writeConfig(join(dir, 'homeserver.yaml'), {
    oidc_providers: [{ idp_id: 'keycloak', idp_name: 'Keycloak', issuer: setup.idp.issuer, client_id: 'synapse', client_secret: 'x' }],
  });
  synapseBefore = await synapse.snapshot();
  migrateOutput = await setup.mauth.cli('syn2mas', 'migrate', '--synapse-config', config, '--upstream-provider-mapping', `oidc-keycloak:${PROVIDER}`);
  await rm(dir, { recursive: true, force: true });
});

after(() => cleanUp(() => setup?.stop(), () => db?.end(), () => synapse?.drop()));

test('migrate succeeds and reports what it moved and what it skipped', () => {
  assert.equal(migrateOutput.code, 0, migrateOutput.stderr);
  assert.match(migrateOutput.stdout, /users\s+5\s+\(skipped: 1 application service users, 1 guests\)/);
  assert.match(migrateOutput.stdout, /devices\s+5\s+\(skipped: [^)]*1 of deactivated users/);
  assert.match(migrateOutput.stdout, /refresh tokens\s+1\b/);
});

test("Synapse's database is only read", async () => {
  assert.equal(await synapse.snapshot(), synapseBefore);
});

test('accounts keep their name, creation time, admin flag, lock and deactivation; nothing is sent to Synapse', async () => {
  const rows = await db<{ username: string; can_request_admin: boolean; locked: boolean; deactivated: boolean; created_at: Date; display_name: string | null }[]>`
    SELECT username, can_request_admin, locked_at IS NOT NULL AS locked, deactivated_at IS NOT NULL AS deactivated, created_at, display_name
    FROM users ORDER BY username`;
  assert.deepEqual(rows.map((r) => r.username), ['alice', 'dora', 'frank', 'lucy', 'root']);
  const by = new Map(rows.map((r) => [r.username, r]));
  assert.equal(by.get('root')!.can_request_admin, true);
  assert.equal(by.get('alice')!.can_request_admin, false);
  assert.equal(by.get('lucy')!.locked, true);
  assert.equal(by.get('dora')!.deactivated, true);
  assert.equal(by.get('alice')!.created_at.toISOString(), '2024-03-01T10:00:00.000Z');
  assert.ok(rows.every((r) => r.display_name === null));
  const [email] = await db<{ email: string; verified: boolean }[]>`SELECT email, verified_at IS NOT NULL AS verified FROM user_emails`;
  assert.deepEqual({ ...email }, { email: 'Alice@example.org', verified: true });
  assert.equal((await db`SELECT 1 FROM user_threepids WHERE medium = 'msisdn' AND address = '447700900123'`).length, 1);
  assert.deepEqual(setup.hs.calls.filter((c) => !c.path.endsWith('/upsert_device')).map((c) => c.path), [], 'no provisioning, no display name');
  assert.equal(setup.hs.users.get('alice')!.displayName, 'alice in Synapse');
});

test('a Synapse access token introspects active, with its device and client_id legacy', async () => {
  const answer = await introspect(setup.mauth.url, setup.mauth.secret, tokens.alice);
  assert.equal(answer.body.active, true, JSON.stringify(answer.body));
  assert.equal(answer.body.client_id, 'legacy');
  assert.equal(answer.body.username, 'alice');
  assert.equal(answer.body.device_id, 'ALICEDESK');
  assert.ok(answer.body.scope.split(' ').includes(API));
  assert.ok(!answer.body.scope.includes('urn:synapse:admin:*'));
  const admin = await introspect(setup.mauth.url, setup.mauth.secret, tokens.root);
  assert.equal(admin.body.active, true);
  assert.ok(admin.body.scope.split(' ').includes('urn:synapse:admin:*'), "the admin's sessions stay admin sessions");
});

test("a locked user's tokens are inactive; a deactivated user's devices are not migrated", async () => {
  assert.equal((await introspect(setup.mauth.url, setup.mauth.secret, tokens.lucy)).body.active, false);
  assert.equal((await introspect(setup.mauth.url, setup.mauth.secret, tokens.dora)).body.active, false);
  const [{ n }] = await db<{ n: number }[]>`SELECT count(*)::int AS n FROM compat_sessions s JOIN users u ON u.id = s.user_id WHERE u.username = 'dora'`;
  assert.equal(n, 0);
});

test('a Synapse refresh token refreshes: new tokens on the same device, the old access token ends', async () => {
  assert.equal((await introspect(setup.mauth.url, setup.mauth.secret, alicePair.accessToken)).body.device_id, 'ALICEPHONE');
  const res = await fetch(`${setup.mauth.url}/_matrix/client/v3/refresh`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ refresh_token: alicePair.refreshToken }),
  });
  const body = (await res.json()) as { access_token: string; refresh_token: string };
  assert.equal(res.status, 200, JSON.stringify(body));
  const fresh = await introspect(setup.mauth.url, setup.mauth.secret, body.access_token);
  assert.equal(fresh.body.active, true);
  assert.equal(fresh.body.device_id, 'ALICEPHONE');
  assert.equal((await introspect(setup.mauth.url, setup.mauth.secret, alicePair.accessToken)).body.active, false);
});

test('a migrated user logs in with the old password through the legacy API, and the hash becomes argon2id', async () => {
  assert.equal((await currentHash('alice')).version, 1);
  assert.match((await currentHash('alice')).hashed_password, /^\$2[aby]\$/);
  // Synapse normalised passwords (NFKC): the ligature and its plain letters are the same password.
  const login = await compatLogin('alice', 'fish and chips forever');
  assert.equal(login.status, 200, JSON.stringify(login.body));
  assert.equal(login.body.user_id, '@alice:syn.test');
  const upgraded = await currentHash('alice');
  assert.equal(upgraded.version, 2);
  assert.match(upgraded.hashed_password, /^\$argon2id\$/);
  assert.equal((await compatLogin('alice', 'wrong password')).status, 403);
});

async function browserLogin(username: string, password: string, extraScope = '') {
  const client = await registerNativeClient(setup.mauth.url);
  const device = `${username.toUpperCase()}${ulid().slice(-8)}`;
  const result = await authorize(new Browser(setup.mauth.url), { client, scope: `openid ${API} urn:matrix:client:device:${device}${extraScope}`, username, password });
  if (!result.params.get('code')) return { result, tokens: undefined };
  const tokens = await tokenRequest(setup.mauth.url, {
    grant_type: 'authorization_code',
    code: result.params.get('code')!,
    redirect_uri: client.redirect_uri,
    client_id: client.client_id,
    code_verifier: result.verifier,
  });
  return { result, tokens };
}

test('a migrated user logs in with the old password in the browser, and the hash becomes argon2id', async () => {
  assert.match((await currentHash('root')).hashed_password, /^\$2[aby]\$/);
  const { tokens } = await browserLogin('root', 'root-old-password');
  assert.equal(tokens?.status, 200, JSON.stringify(tokens?.body));
  assert.match((await currentHash('root')).hashed_password, /^\$argon2id\$/);
  const again = await browserLogin('root', 'root-old-password');
  assert.equal(again.tokens?.status, 200, 'the upgraded hash verifies');
});

test('the admin gets urn:synapse:admin:* when asked; another user does not', async () => {
  const { tokens } = await browserLogin('root', 'root-old-password', ' urn:synapse:admin:*');
  assert.equal(tokens?.status, 200, JSON.stringify(tokens?.body));
  const answer = await introspect(setup.mauth.url, setup.mauth.secret, tokens!.body.access_token);
  assert.ok(answer.body.scope.split(' ').includes('urn:synapse:admin:*'), answer.body.scope);
  const refused = await browserLogin('alice', 'fish and chips forever', ' urn:synapse:admin:*');
  assert.equal(refused.result.params.get('error'), 'access_denied');
});

test('the upstream-linked user signs in through the provider into the same account', async () => {
  const before = await db<{ id: string }[]>`SELECT id FROM users WHERE username = 'frank'`;
  const browser = new Browser(setup.mauth.url);
  const landed = await upstreamLogin(browser, await follow(browser, await browser.get(`/upstream/authorize/${PROVIDER}?next=/account/`)), 'frank', 'frank-upstream');
  assert.equal(landed.status, 200);
  assert.match(await landed.text(), /@frank:syn\.test/);
  const [session] = await db<{ user_id: string }[]>`SELECT user_id FROM browser_sessions ORDER BY created_at DESC LIMIT 1`;
  assert.equal(session.user_id, before[0].id);
  assert.equal((await db`SELECT 1 FROM users WHERE username LIKE 'frank%'`).length, 1, 'no second account');
});

test('the deactivated user cannot log in; the locked one neither', async () => {
  const dora = await compatLogin('dora', 'dora-old-password');
  assert.equal(dora.status, 403);
  assert.equal(dora.body.errcode, 'M_USER_DEACTIVATED');
  const lucy = await compatLogin('lucy', 'lucy-old-password');
  assert.equal(lucy.body.errcode, 'M_USER_LOCKED');
});
