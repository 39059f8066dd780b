// Black box: `mauth import-mas` from a MAS database the test builds from MAS's schema
// (test/fixtures/mas-schema.sql) with one user of each kind and live sessions; afterwards clients
// carry on against Mauth as they did against MAS: an OAuth refresh token issued by "MAS" refreshes,
// a compat token introspects active, passwords and upstream links work, ids are kept.
import assert from 'node:assert/strict';
import { createCipheriv, createHash, randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { after, before, test } from 'node:test';
import argon2 from 'argon2';
import postgres from 'postgres';
import { ulid, ulidToUUID, uuidToULID as ulidFromUuid } from 'ulid';
import YAML from 'yaml';
import { systemRandomness } from '../../src/clock.js';
import { generateToken, hashSecret, type TokenKind } from '../../src/domain/tokens.js';
import { createDatabase } from '../support/mauth-process.js';
import { introspect, tokenRequest } from '../support/oauth-client.js';
import { follow, upstreamLogin } from '../support/upstream-provider.js';
import { startUpstreamSetup, type UpstreamSetup } from '../support/upstream-setup.js';
import { Browser } from '../support/http-client.js';
import { cleanUp, databaseDigest } from './synapse-fixture.js';

const SERVER_NAME = 'mas.test';
const PROVIDER = ulid();
const UNSTABLE_API = 'urn:matrix:org.matrix.msc2967.client:api:*';
const DEVICE = 'ALICEDEVICE01';
const token = (kind: TokenKind) => generateToken(kind, systemRandomness);
const uuid = () => ulidToUUID(ulid());

let setup: UpstreamSetup;
let masDb: { url: string; drop(): Promise<void> };
let mas: postgres.Sql;
let db: postgres.Sql;
let checkOutput: { stdout: string; stderr: string; code: number };
let importOutput: { stdout: string; stderr: string; code: number };
let dryRun: { output: { stdout: string; stderr: string; code: number }; before: Record<string, string>; after: Record<string, string> };
let masBefore: Record<string, string>;
const ids: Record<string, string> = {};
const t: Record<string, string> = {};
const IMPORTED_TABLES = ['users', 'user_passwords', 'user_emails', 'user_threepids', 'upstream_oauth_links', 'oidc_payloads', 'oauth2_sessions',
  'compat_sessions', 'compat_access_tokens', 'compat_refresh_tokens', 'browser_sessions', 'user_registration_tokens', 'personal_sessions', 'personal_access_tokens'];
const CONFIDENTIAL_SECRET = 'confidential-client-secret-0123456789';

/** MAS's way of keeping a client secret: ChaCha20-Poly1305 under secrets.encryption, base64(nonce ‖ ciphertext ‖ tag). */
function masEncrypt(keyHex: string, plain: string): string {
  const nonce = randomBytes(12);
  const cipher = createCipheriv('chacha20-poly1305', Buffer.from(keyHex, 'hex'), nonce, { authTagLength: 16 });
  const body = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
  return Buffer.concat([nonce, body, cipher.getAuthTag()]).toString('base64');
}

async function seedMas(encryptionKey: string): Promise<void> {
  const minutesAgo = (m: number) => new Date(Date.now() - m * 60_000);
  const user = async (name: string, f: { admin?: boolean; locked?: boolean; deactivated?: boolean; guest?: boolean } = {}) => {
    ids[name] = uuid();
    await mas`INSERT INTO users (user_id, username, created_at, locked_at, can_request_admin, is_guest, deactivated_at)
      VALUES (${ids[name]}, ${name}, ${new Date('2025-01-02T03:04:05Z')}, ${f.locked ? minutesAgo(500) : null}, ${f.admin ?? false}, ${f.guest ?? false}, ${f.deactivated ? minutesAgo(600) : null})`;
    const hash = await argon2.hash(`${name}-mas-password`, { type: argon2.argon2id, memoryCost: 19456, timeCost: 2, parallelism: 1 });
    await mas`INSERT INTO user_passwords (user_password_id, user_id, hashed_password, created_at, version) VALUES (${uuid()}, ${ids[name]}, ${hash}, ${minutesAgo(1000)}, 1)`;
  };
  await user('alice');
  await user('root', { admin: true });
  await user('lucy', { locked: true });
  await user('dora', { deactivated: true });
  await user('99999', { guest: true });
  await user('gina');
  await mas`INSERT INTO user_emails (user_email_id, user_id, email, created_at) VALUES (${uuid()}, ${ids.alice}, 'alice@mas.test', ${minutesAgo(900)})`;
  await mas`INSERT INTO user_unsupported_third_party_ids (user_id, medium, address, created_at) VALUES (${ids.alice}, 'msisdn', '447700900001', ${minutesAgo(900)})`;
  await mas`INSERT INTO upstream_oauth_providers (upstream_oauth_provider_id, issuer, scope, client_id, token_endpoint_auth_method, created_at)
    VALUES (${ulidToUUID(PROVIDER)}, ${setup.idp.issuer}, 'openid profile email', 'mauth-upstream', 'client_secret_post', ${minutesAgo(2000)})`;
  await mas`INSERT INTO upstream_oauth_links (upstream_oauth_link_id, upstream_oauth_provider_id, user_id, subject, created_at)
    VALUES (${uuid()}, ${ulidToUUID(PROVIDER)}, ${ids.gina}, 'kc-gina', ${minutesAgo(900)})`;

  // Element X registered itself (public, native); a bot with a secret (confidential).
  ids.elementx = uuid();
  ids.bot = uuid();
  await mas`INSERT INTO oauth2_clients (oauth2_client_id, grant_type_authorization_code, grant_type_refresh_token, client_name, client_uri,
      token_endpoint_auth_method, redirect_uris, application_type, created_at, grant_type_device_code)
    VALUES (${ids.elementx}, true, true, 'Element X', 'https://element.io/', 'none', ${['io.element.app:/callback']}, 'native', ${minutesAgo(3000)}, true)`;
  await mas`INSERT INTO oauth2_clients (oauth2_client_id, encrypted_client_secret, grant_type_authorization_code, grant_type_refresh_token, client_name,
      client_uri, token_endpoint_auth_method, redirect_uris, application_type, created_at)
    VALUES (${ids.bot}, ${masEncrypt(encryptionKey, CONFIDENTIAL_SECRET)}, true, true, 'Bot', 'https://bot.example/', 'client_secret_basic',
      ${['https://bot.example/cb']}, 'web', ${minutesAgo(3000)})`;

  const oauthSession = async (name: string, user: string, client: string, device: string) => {
    ids[name] = uuid();
    await mas`INSERT INTO oauth2_sessions (oauth2_session_id, oauth2_client_id, created_at, user_id, scope_list, last_active_at)
      VALUES (${ids[name]}, ${client}, ${minutesAgo(800)}, ${ids[user]}, ${['openid', UNSTABLE_API, `urn:matrix:org.matrix.msc2967.client:device:${device}`]}, ${minutesAgo(30)})`;
    t[`${name}Access`] = token('accessToken');
    t[`${name}Refresh`] = token('refreshToken');
    const accessId = uuid();
    await mas`INSERT INTO oauth2_access_tokens (oauth2_access_token_id, oauth2_session_id, access_token, created_at, expires_at, first_used_at)
      VALUES (${accessId}, ${ids[name]}, ${t[`${name}Access`]}, ${minutesAgo(1)}, ${new Date(Date.now() + 4 * 60_000)}, ${minutesAgo(1)})`;
    await mas`INSERT INTO oauth2_refresh_tokens (oauth2_refresh_token_id, oauth2_session_id, oauth2_access_token_id, refresh_token, created_at)
      VALUES (${uuid()}, ${ids[name]}, ${accessId}, ${t[`${name}Refresh`]}, ${minutesAgo(1)})`;
    // An older, already used refresh token of the same session stays behind.
    await mas`INSERT INTO oauth2_refresh_tokens (oauth2_refresh_token_id, oauth2_session_id, refresh_token, created_at, consumed_at)
      VALUES (${uuid()}, ${ids[name]}, ${token('refreshToken')}, ${minutesAgo(10)}, ${minutesAgo(1)})`;
  };
  await oauthSession('aliceSession', 'alice', ids.elementx, DEVICE);
  await oauthSession('rootSession', 'root', ids.bot, 'ROOTBOTDEVICE');

  ids.compat = uuid();
  await mas`INSERT INTO compat_sessions (compat_session_id, user_id, device_id, created_at, is_synapse_admin, user_agent)
    VALUES (${ids.compat}, ${ids.root}, 'ROOTCOMPAT', ${minutesAgo(700)}, true, 'curl/8')`;
  t.compatAccess = token('compatAccessToken');
  t.compatRefresh = token('compatRefreshToken');
  const compatAccessId = uuid();
  await mas`INSERT INTO compat_access_tokens (compat_access_token_id, compat_session_id, access_token, created_at, expires_at)
    VALUES (${compatAccessId}, ${ids.compat}, ${t.compatAccess}, ${minutesAgo(2)}, ${new Date(Date.now() + 3 * 60_000)})`;
  await mas`INSERT INTO compat_refresh_tokens (compat_refresh_token_id, compat_session_id, compat_access_token_id, refresh_token, created_at)
    VALUES (${uuid()}, ${ids.compat}, ${compatAccessId}, ${t.compatRefresh}, ${minutesAgo(2)})`;

  await mas`INSERT INTO user_sessions (user_session_id, user_id, created_at, user_agent, last_active_at, last_active_ip)
    VALUES (${uuid()}, ${ids.alice}, ${minutesAgo(800)}, 'Firefox', ${minutesAgo(40)}, '192.0.2.7')`;
  await mas`INSERT INTO user_registration_tokens (user_registration_token_id, token, usage_limit, times_used, created_at)
    VALUES (${uuid()}, 'invite-for-friends', 5, 2, ${minutesAgo(5000)})`;
  ids.personal = uuid();
  await mas`INSERT INTO personal_sessions (personal_session_id, owner_user_id, actor_user_id, human_name, scope_list, created_at)
    VALUES (${ids.personal}, ${ids.root}, ${ids.root}, 'admin script', ${['urn:mas:admin']}, ${minutesAgo(100)})`;
  // MAS keeps only the SHA-256 of a personal token.
  t.personal = token('personalToken');
  await mas`INSERT INTO personal_access_tokens (personal_access_token_id, personal_session_id, access_token_sha256, created_at, expires_at)
    VALUES (${uuid()}, ${ids.personal}, ${createHash('sha256').update(t.personal).digest()}, ${minutesAgo(100)}, ${new Date(Date.now() + 86_400_000)})`;
}

before(async () => {
  setup = await startUpstreamSetup({
    serverName: SERVER_NAME,
    providerId: PROVIDER,
    accounts: [{ sub: 'kc-gina', password: 'gina-upstream', preferred_username: 'gina' }],
  });
  db = postgres(setup.mauth.databaseUrl, { max: 2, onnotice: () => {} });
  for (const name of ['alice', 'root', 'lucy', 'gina']) setup.hs.addUser(name);
  masDb = await createDatabase();
  mas = postgres(masDb.url, { max: 2, onnotice: () => {} });
  await mas.unsafe(await readFile(new URL('../fixtures/mas-schema.sql', import.meta.url), 'utf8'));
  const base = YAML.parse(await readFile(setup.mauth.configFiles[0], 'utf8')) as { secrets: { encryption: string } };
  await seedMas(base.secrets.encryption);
  checkOutput = await setup.mauth.cli('import-mas', '--mas-database-uri', masDb.url, '--check');
  masBefore = await databaseDigest(masDb.url);
  const written = async () => {
    const all = await databaseDigest(setup.mauth.databaseUrl);
    return Object.fromEntries(Object.entries(all).filter(([table]) => IMPORTED_TABLES.includes(table)));
  };
  const beforeDryRun = await written();
  const dryRunOutput = await setup.mauth.cli('import-mas', '--mas-database-uri', masDb.url, '--dry-run');
  dryRun = { output: dryRunOutput, before: beforeDryRun, after: await written() };
  importOutput = await setup.mauth.cli('import-mas', '--mas-database-uri', masDb.url);
});

after(() => cleanUp(() => setup?.stop(), () => db?.end(), () => mas?.end(), () => masDb?.drop()));

test('--check says what is not carried over (exit 11), and the import succeeds', () => {
  assert.equal(checkOutput.code, 11, checkOutput.stderr);
  assert.match(checkOutput.stderr, /^warning: 1 guest accounts are not imported/m);
  assert.equal(importOutput.code, 0, importOutput.stderr);
  assert.match(importOutput.stdout, /users\s+5\s+\(skipped: 1 guests\)/);
  assert.match(importOutput.stdout, /OAuth 2.0 refresh tokens\s+2\b/);
  assert.match(importOutput.stdout, /personal sessions\s+1\b/);
});

test("--dry-run writes nothing; MAS's database is only read", async () => {
  assert.equal(dryRun.output.code, 0, dryRun.output.stderr);
  assert.match(dryRun.output.stdout, /^Dry run: nothing was written/m);
  assert.match(dryRun.output.stdout, /users\s+5\b/);
  assert.deepEqual(dryRun.after, dryRun.before);
  assert.deepEqual(await databaseDigest(masDb.url), masBefore);
});

test('an OAuth refresh token issued by MAS refreshes at Mauth, on the same device, without a new device on the homeserver', async () => {
  const clientId = ulidFromUuid(ids.elementx);
  const upserts = setup.hs.calls.filter((c) => c.path.endsWith('/upsert_device')).length;
  const refreshed = await tokenRequest(setup.mauth.url, { grant_type: 'refresh_token', refresh_token: t.aliceSessionRefresh, client_id: clientId });
  assert.equal(refreshed.status, 200, JSON.stringify(refreshed.body));
  assert.match(refreshed.body.refresh_token, /^mar_/);
  const answer = await introspect(setup.mauth.url, setup.mauth.secret, refreshed.body.access_token);
  assert.equal(answer.body.active, true);
  assert.equal(answer.body.device_id, DEVICE);
  assert.equal(answer.body.client_id, clientId);
  assert.equal(answer.body.username, 'alice');
  assert.equal(answer.body.sub, ulidFromUuid(ids.alice), 'the user keeps the sub MAS gave it');
  assert.equal(setup.hs.calls.filter((c) => c.path.endsWith('/upsert_device')).length, upserts);
  const replay = await tokenRequest(setup.mauth.url, { grant_type: 'refresh_token', refresh_token: refreshed.body.refresh_token, client_id: clientId });
  assert.equal(replay.status, 200, 'the rotated token refreshes again');
});

test('a personal access token of MAS, of which MAS kept only the hash, introspects active', async () => {
  const answer = await introspect(setup.mauth.url, setup.mauth.secret, t.personal);
  assert.equal(answer.body.active, true, JSON.stringify(answer.body));
  assert.equal(answer.body.username, 'root');
  assert.ok(answer.body.scope.split(' ').includes('urn:mas:admin'));
});

test("MAS's live access token keeps working until it expires", async () => {
  const answer = await introspect(setup.mauth.url, setup.mauth.secret, t.rootSessionAccess);
  assert.equal(answer.body.active, true);
  assert.equal(answer.body.device_id, 'ROOTBOTDEVICE');
});

test("a confidential client's secret, kept encrypted by MAS, still authenticates it", async () => {
  const res = await fetch(`${setup.mauth.url}/oauth2/token`, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      authorization: `Basic ${Buffer.from(`${ulidFromUuid(ids.bot)}:${CONFIDENTIAL_SECRET}`).toString('base64')}`,
    },
    body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: t.rootSessionRefresh }).toString(),
  });
  assert.equal(res.status, 200, await res.clone().text());
  const [row] = await db<{ payload: string }[]>`SELECT payload::text FROM oidc_payloads WHERE model = 'Client' AND id = ${ulidFromUuid(ids.bot)}`;
  assert.doesNotMatch(row.payload, new RegExp(CONFIDENTIAL_SECRET), 'sealed at rest');
});

test('a compat token introspects active with its device; its refresh token refreshes', async () => {
  const answer = await introspect(setup.mauth.url, setup.mauth.secret, t.compatAccess);
  assert.equal(answer.body.active, true);
  assert.equal(answer.body.client_id, 'legacy');
  assert.equal(answer.body.device_id, 'ROOTCOMPAT');
  assert.ok(answer.body.scope.split(' ').includes('urn:synapse:admin:*'));
  const res = await fetch(`${setup.mauth.url}/_matrix/client/v3/refresh`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ refresh_token: t.compatRefresh }),
  });
  assert.equal(res.status, 200);
});

test('accounts keep their ids, states and MAS passwords; tokens are stored only hashed', async () => {
  const users = await db<{ id: string; username: string; can_request_admin: boolean; locked: boolean; deactivated: boolean }[]>`
    SELECT id, username, can_request_admin, locked_at IS NOT NULL AS locked, deactivated_at IS NOT NULL AS deactivated FROM users ORDER BY username`;
  assert.deepEqual(users.map((u) => u.username), ['alice', 'dora', 'gina', 'lucy', 'root']);
  const by = new Map(users.map((u) => [u.username, u]));
  assert.equal(by.get('alice')!.id, ulidFromUuid(ids.alice));
  assert.equal(by.get('root')!.can_request_admin, true);
  assert.equal(by.get('lucy')!.locked, true);
  assert.equal(by.get('dora')!.deactivated, true);
  const login = await fetch(`${setup.mauth.url}/_matrix/client/v3/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ type: 'm.login.password', identifier: { type: 'm.id.user', user: 'alice' }, password: 'alice-mas-password' }),
  });
  assert.equal(login.status, 200);
  const [registration] = await db<{ token_hash: string; times_used: number }[]>`SELECT token_hash, times_used FROM user_registration_tokens`;
  assert.deepEqual({ ...registration }, { token_hash: hashSecret('invite-for-friends'), times_used: 2 });
  const [{ dump }] = await db<{ dump: string }[]>`
    SELECT (SELECT string_agg(t::text, '') FROM oidc_payloads t) || (SELECT string_agg(t::text, '') FROM compat_access_tokens t) AS dump`;
  for (const value of Object.values(t)) assert.ok(!dump.includes(value), 'no token in the clear');
  const [browser] = await db<{ finished: boolean }[]>`SELECT finished_at IS NOT NULL AS finished FROM browser_sessions`;
  assert.equal(browser.finished, true, "MAS's browser sessions are kept as ended ones");
});

test('the upstream-linked user signs in through the provider into the same account', async () => {
  const browser = new Browser(setup.mauth.url);
  const landed = await upstreamLogin(browser, await follow(browser, await browser.get(`/upstream/authorize/${PROVIDER}?next=/account/`)), 'gina', 'gina-upstream');
  assert.equal(landed.status, 200);
  assert.match(await landed.text(), /@gina:mas\.test/);
  assert.equal((await db`SELECT 1 FROM users WHERE username LIKE 'gina%'`).length, 1);
});

test('a second import is refused', async () => {
  const again = await setup.mauth.cli('import-mas', '--mas-database-uri', masDb.url);
  assert.equal(again.code, 10);
  assert.match(again.stderr, /already has 5 users/);
});
