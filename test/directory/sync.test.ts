// The directory from the command line (`mauth manage ldap-check`, `ldap-sync`) and directory
// entries whose name a local account has (`ldap.on_conflict`).
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { after, before, describe, test } from 'node:test';
import postgres from 'postgres';
import YAML from 'yaml';
import { startHomeserverDouble, type HomeserverDouble } from '../support/homeserver-double.js';
import { createMauth, type MauthInstance } from '../support/mauth-process.js';
import { introspect } from '../support/oauth-client.js';
import { PEOPLE, SERVICE_DN, slapdAvailable, startSlapd, type Slapd } from '../support/slapd.js';

const SERVER_NAME = 'sync.test';
const skip = !slapdAvailable || process.env.MAUTH_TEST_DATABASE === 'embedded' ? 'needs slapd and PostgreSQL' : false;

let slapd: Slapd;
let hs: HomeserverDouble;
let mauth: MauthInstance;

const PW = { alice: 'Alice-directory-pw-1', bob: 'Bob-directory-pw-1', carol: 'Carol-directory-pw-1', carolLocal: 'Carol-local-pw-1' };

async function login(identifier: Record<string, unknown>, password: string) {
  const res = await fetch(`${mauth.url}/_matrix/client/v3/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ type: 'm.login.password', identifier, password }),
  });
  return { status: res.status, body: (await res.json()) as any };
}
const byUser = (user: string, password: string) => login({ type: 'm.id.user', user }, password);

/** Changes the `ldap` section (and others) of the test's configuration and restarts the server with it. */
async function restartWith(ldap: Record<string, unknown>, other: Record<string, unknown> = {}) {
  const file = mauth.configFiles[1]!;
  const config = { ...YAML.parse(await readFile(file, 'utf8')), ...other };
  config.ldap = { ...config.ldap, ...ldap };
  await writeFile(file, YAML.stringify(config));
  await mauth.stop();
  await mauth.start();
}

before(async () => {
  if (skip) return;
  slapd = await startSlapd();
  await slapd.addUser('alice', { password: PW.alice, displayName: 'Alice Liddell', mail: ['alice@example.org'], employeeNumber: '4711' });
  await slapd.addUser('bob', { password: PW.bob, displayName: 'Bob', mail: ['bob@example.org'] });
  await slapd.addUser('carol', { password: PW.carol, displayName: 'Carol from the directory', mail: ['carol@example.org'] });
  const secret = randomBytes(16).toString('hex');
  hs = await startHomeserverDouble({ secret, serverName: SERVER_NAME });
  mauth = await createMauth({
    homeserverUrl: hs.url,
    serverName: SERVER_NAME,
    secret,
    extra: {
      account: { login_with_email_allowed: true },
      ldap: {
        enabled: true,
        uri: slapd.url,
        bind_dn: SERVICE_DN,
        bind_password: slapd.servicePassword,
        base_dns: [PEOPLE],
        user_filter: '(employeeType=matrix)',
        attributes: { threepids: { employee_id: ['employeeNumber'] } },
      },
    },
  });
  assert.equal((await mauth.cli('manage', 'register-user', 'carol', '--password', PW.carolLocal, '--yes')).code, 0);
  await mauth.start();
});

after(async () => {
  await mauth?.stop();
  await mauth?.drop();
  await hs?.stop();
  await slapd?.close();
});

describe('ldap-check and ldap-sync', { skip }, () => {
  test('ldap-check shows the directory, the service bind and what a login resolves to, without a password', async () => {
    const res = await mauth.cli('manage', 'ldap-check', 'alice@example.org');
    assert.equal(res.code, 0, res.stderr);
    assert.match(res.stdout, new RegExp(`directory: ldap://127\\.0\\.0\\.1:${slapd.port} \\(no TLS\\): reachable`));
    assert.match(res.stdout, /service account cn=matrix,ou=services,dc=example,dc=org: accepted/);
    assert.match(res.stdout, /entry: uid=alice,ou=people,dc=example,dc=org/);
    assert.match(res.stdout, /localpart: alice/);
    assert.match(res.stdout, /display name: Alice Liddell/);
    assert.match(res.stdout, /e-mails: alice@example\.org/);
    assert.match(res.stdout, /employee_id: 4711/);
    assert.match(res.stdout, new RegExp(`account: none yet: the first login creates @alice:${SERVER_NAME}`));
    assert.ok(!`${res.stdout}${res.stderr}`.includes(slapd.servicePassword));

    const carol = await mauth.cli('manage', 'ldap-check', 'carol');
    assert.match(carol.stdout, /is a local account: logins are refused \(ldap\.on_conflict: fail\)/);

    const nobody = await mauth.cli('manage', 'ldap-check', 'nobody');
    assert.equal(nobody.code, 1);
    assert.match(nobody.stdout, /no single entry .* matches it/);
  });

  test('ldap-sync locks a user deleted from the directory, whose tokens then introspect inactive; --dry-run only lists', async () => {
    const alice = await byUser('alice', PW.alice);
    const bob = await byUser('bob', PW.bob);
    assert.equal(alice.status, 200, JSON.stringify(alice.body));
    assert.equal(bob.status, 200, JSON.stringify(bob.body));
    assert.equal((await introspect(mauth.url, mauth.secret, bob.body.access_token)).body.active, true);

    await slapd.remove(`uid=bob,${PEOPLE}`);
    const dry = await mauth.cli('manage', 'ldap-sync', '--dry-run');
    assert.equal(dry.code, 0, dry.stderr);
    assert.match(dry.stdout, /would lock bob/);
    assert.equal((await introspect(mauth.url, mauth.secret, bob.body.access_token)).body.active, true, 'a dry run locks nothing');

    const sync = await mauth.cli('manage', 'ldap-sync');
    assert.equal(sync.code, 0, sync.stderr);
    assert.match(sync.stdout, /locked bob/);
    assert.doesNotMatch(sync.stdout, /locked alice/);
    assert.equal((await introspect(mauth.url, mauth.secret, bob.body.access_token)).body.active, false);
    assert.equal((await introspect(mauth.url, mauth.secret, alice.body.access_token)).body.active, true);
    // The homeserver hears of the lock, and the compat session is over.
    await hs.waitFor((c) => c.path.endsWith('/provision_user') && (c.body as any)?.localpart === 'bob' && (c.body as any)?.locked === true);
    const sql = postgres(mauth.databaseUrl, { max: 1, onnotice: () => {} });
    try {
      const open = await sql`SELECT 1 FROM compat_sessions s JOIN users u ON u.id = s.user_id WHERE u.username = 'bob' AND s.finished_at IS NULL`;
      assert.equal(open.length, 0);
    } finally {
      await sql.end();
    }
    assert.equal((await byUser('bob', PW.bob)).status, 403);
  });

  test('ldap-check and ldap-sync with the directory down: a clear error, nothing locked', async () => {
    await slapd.stop();
    try {
      const check = await mauth.cli('manage', 'ldap-check', 'alice');
      assert.equal(check.code, 1);
      assert.match(check.stdout, /UNAVAILABLE \(unreachable\)/);
      const sync = await mauth.cli('manage', 'ldap-sync');
      assert.notEqual(sync.code, 0);
      assert.match(sync.stderr, /the directory is unavailable, nothing was locked/);
    } finally {
      await slapd.start();
    }
    assert.equal((await byUser('alice', PW.alice)).status, 200);
  });
});

describe('a local account and a directory entry with the same name', { skip }, () => {
  test('refused by default with a clear message; the local account keeps its own password', async () => {
    for (const identifier of [{ type: 'm.id.user', user: 'carol' }, { type: 'm.id.thirdparty', medium: 'email', address: 'carol@example.org' }]) {
      const res = await login(identifier, PW.carol);
      assert.equal(res.status, 403, JSON.stringify(res.body));
      assert.equal(res.body.errcode, 'M_FORBIDDEN');
      assert.match(res.body.error, /already exists here and is not linked to the directory/);
    }
    const local = await byUser('carol', PW.carolLocal);
    assert.equal(local.status, 200, JSON.stringify(local.body));
  });

  test('linked with on_conflict: add; from then on only the directory password works', async () => {
    // (A per-account limit of 3 for the next test.)
    await restartWith({ on_conflict: 'add' }, { rate_limiting: { login: { per_ip: { burst: 10000, per_second: 1000 }, per_account: { burst: 3, per_second: 0.001 } } } });
    const res = await byUser('carol', PW.carol);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.equal(res.body.user_id, `@carol:${SERVER_NAME}`);
    assert.equal((await byUser('carol', PW.carolLocal)).status, 403, 'the local password no longer counts');
    await hs.waitFor((c) => c.path.endsWith('/provision_user') && (c.body as any)?.localpart === 'carol' && (c.body as any)?.set_displayname === 'Carol from the directory');
    const check = await mauth.cli('manage', 'ldap-check', 'carol');
    assert.match(check.stdout, new RegExp(`account: @carol:${SERVER_NAME}, linked to this entry`));
  });
});

describe('rate limits', { skip }, () => {
  test('search_bind: failed binds count against the account the entry belongs to', async () => {
    // alice's account has a full bucket of 3 (buckets are clamped to the new burst): by name, in
    // another case and by e-mail, every failed bind takes from it.
    for (const name of ['alice', 'ALICE']) assert.equal((await byUser(name, 'wrong')).status, 403);
    assert.equal((await login({ type: 'm.id.thirdparty', medium: 'email', address: 'alice@example.org' }, 'wrong')).status, 403);
    const limited = await byUser('alice', PW.alice);
    assert.equal(limited.status, 429, JSON.stringify(limited.body));
    assert.equal(limited.body.errcode, 'M_LIMIT_EXCEEDED');
  });
});
