// `mauth syn2mas check`: each reason to refuse a migration, in a case of its own, and the
// warnings about what a migration would leave behind. Exit codes as MAS's syn2mas: 10 refused,
// 11 warnings only, 0 clean.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import postgres from 'postgres';
import { startHomeserverDouble, type HomeserverDouble } from '../support/homeserver-double.js';
import { createMauth, type MauthInstance } from '../support/mauth-process.js';
import { cleanUp, createSynapseDatabase, type SynapseDatabase } from './synapse-fixture.js';

const SERVER_NAME = 'check.test';
const PEPPER = 'check-pepper';

let hs: HomeserverDouble;
let mauth: MauthInstance;
let synapse: SynapseDatabase;
let dir: string;
let n = 0;

/** `syn2mas check` with a homeserver.yaml made of this database plus `extra`. */
async function check(extra: Record<string, unknown> = {}, ...args: string[]) {
  const config = await synapse.writeConfig(join(dir, `homeserver-${(n += 1)}.yaml`), extra);
  return mauth.cli('syn2mas', 'check', '--synapse-config', config, ...args);
}

before(async () => {
  const secret = randomBytes(16).toString('hex');
  hs = await startHomeserverDouble({ secret, serverName: SERVER_NAME });
  mauth = await createMauth({
    homeserverUrl: hs.url,
    serverName: SERVER_NAME,
    secret,
    extra: {
      passwords: { schemes: [{ version: 1, algorithm: 'bcrypt', secret: PEPPER, unicode_normalization: true }, { version: 2, algorithm: 'argon2id' }] },
    },
  });
  synapse = await createSynapseDatabase(SERVER_NAME, PEPPER);
  await synapse.user('alice', { password: 'alice-password' });
  await synapse.device('alice', 'ALICEDEVICE');
  await synapse.accessToken('alice', 'ALICEDEVICE');
  dir = await mkdtemp(join(tmpdir(), 'syn2mas-check-'));
});

after(() => cleanUp(() => hs?.stop(), () => synapse?.drop(), () => mauth?.drop(), () => (dir ? rm(dir, { recursive: true, force: true }) : undefined)));

test('a Synapse and a Mauth ready for each other pass the check (exit 0)', async () => {
  const result = await check();
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stdout, /no problems found/);
});

test('refused: Synapse is still in use (a device seen minutes ago); --active-within 0 skips the check', async () => {
  await synapse.sql`UPDATE devices SET last_seen = ${Date.now() - 60_000}`;
  try {
    const result = await check();
    assert.equal(result.code, 10);
    assert.match(result.stderr, /^error: Synapse is still in use: a device was last seen [01] minutes ago \(less than 10\)/m);
    assert.equal((await check({}, '--active-within', '0')).code, 0);
    assert.equal((await check({}, '--active-within', 'soon')).code, 1, 'a bad value is an error');
  } finally {
    await synapse.sql`UPDATE devices SET last_seen = ${Date.now() - 3 * 3600_000}`;
  }
});

test('refused: Synapse checks passwords with a password provider module', async () => {
  const result = await check({ modules: [{ module: 'ldap_auth_provider.LdapAuthProviderModule', config: { uri: 'ldap://ldap.example' } }] });
  assert.equal(result.code, 10);
  assert.match(result.stderr, /^error: Synapse checks passwords with ldap_auth_provider\.LdapAuthProviderModule; Mauth cannot take those passwords over/m);
  const legacy = await check({ password_providers: [{ module: 'rest_auth_provider.RestAuthProvider' }] });
  assert.match(legacy.stderr, /^error: Synapse checks passwords with rest_auth_provider\.RestAuthProvider/m);
});

test('refused: an SSO provider of Synapse has no mapping to a Mauth upstream provider', async () => {
  const result = await check({ oidc_providers: [{ idp_id: 'corp', idp_name: 'Corp', issuer: 'https://sso.corp.example/', client_id: 'synapse' }] });
  assert.equal(result.code, 10);
  assert.match(result.stderr, /^error: Synapse's OIDC provider "oidc-corp" \(issuer https:\/\/sso\.corp\.example\/\) has no Mauth upstream provider: add --upstream-provider-mapping oidc-corp:<provider id>/m);
  const unknown = await check({}, '--upstream-provider-mapping', 'oidc-corp:01J00000000000000000000000');
  assert.equal(unknown.code, 10);
  assert.match(unknown.stderr, /^error: --upstream-provider-mapping oidc-corp:01J00000000000000000000000: no upstream provider/m);
});

test("refused: Synapse's server_name is not Mauth's matrix.homeserver", async () => {
  const result = await check({ server_name: 'other.example' });
  assert.equal(result.code, 10);
  assert.match(result.stderr, /^error: Synapse's server_name \("other\.example"\) differs from Mauth's matrix\.homeserver \("check\.test"\)/m);
});

test("refused: the pepper of Mauth's bcrypt scheme is not Synapse's", async () => {
  const result = await check({ password_config: { pepper: 'another-pepper' } });
  assert.equal(result.code, 10);
  assert.match(result.stderr, /^error: passwords\.schemes version 1 \(bcrypt\) must have Synapse's password_config\.pepper/m);
});

test('refused: Mauth already has users', async () => {
  const made = await mauth.cli('manage', 'register-user', 'early', '--yes');
  assert.equal(made.code, 0, made.stderr);
  const sql = postgres(mauth.databaseUrl, { max: 1, onnotice: () => {} });
  try {
    const result = await check();
    assert.equal(result.code, 10);
    assert.match(result.stderr, /^error: Mauth's database already has 1 users: a migration runs only once/m);
  } finally {
    await sql`DELETE FROM jobs`;
    await sql`DELETE FROM users`;
    await sql.end();
  }
});

test('warnings (exit 11): guests, application service users and external ids of unmapped providers are not migrated', async () => {
  await synapse.user('1234567', { guest: true });
  await synapse.user('_slack_bot', { appservice: 'slack' });
  await synapse.externalId('alice', 'oidc-retired', 'sub-alice');
  const result = await check();
  assert.equal(result.code, 11, result.stderr);
  assert.match(result.stderr, /^warning: 1 guest accounts are not migrated/m);
  assert.match(result.stderr, /^warning: 1 application service users are not migrated/m);
  assert.match(result.stderr, /^warning: 1 links of users to "oidc-retired" \(user_external_ids\) have no upstream provider mapping/m);
  assert.doesNotMatch(result.stderr, /^error:/m);
});
