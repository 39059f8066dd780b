// Directory login against a real OpenLDAP over StartTLS (a CA made for the run), search_bind with a
// service account whose password comes from a `*_file`: directory users log in through the
// legacy API and the browser by uid, e-mail and employee number, get an account made from their
// entry, and their profile follows the directory; everything else gets the ordinary refusal.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import postgres from 'postgres';
import { startHomeserverDouble, type HomeserverDouble } from '../support/homeserver-double.js';
import { Browser, parseForms } from '../support/http-client.js';
import { createMauth, type MauthInstance } from '../support/mauth-process.js';
import { introspect } from '../support/oauth-client.js';
import { OUTSIDERS, PEOPLE, SERVICE_DN, STAFF, slapdAvailable, startSlapd, type Slapd } from '../support/slapd.js';

const SERVER_NAME = 'directory.test';
const skip = !slapdAvailable || process.env.MAUTH_TEST_DATABASE === 'embedded' ? 'needs slapd and PostgreSQL' : false;

let slapd: Slapd;
let hs: HomeserverDouble;
let mauth: MauthInstance;
let dir: string;
let aliceDn: string;

const PASSWORDS = {
  alice: 'Alice-directory-pw-1',
  bob: 'Bob-directory-pw-1',
  carmen: 'Carmen-directory-pw-1',
  mallory: 'Mallory-directory-pw-1',
  oscar: 'Oscar-directory-pw-1',
  dora: 'Dora-directory-pw-1',
  lucy: 'Lucy-local-pw-1',
};

async function login(identifier: Record<string, unknown>, password: unknown) {
  const res = await fetch(`${mauth.url}/_matrix/client/v3/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ type: 'm.login.password', identifier, password }),
  });
  return { status: res.status, body: (await res.json()) as any };
}

const byUser = (user: string, password: unknown) => login({ type: 'm.id.user', user }, password);

function provisionCalls(localpart: string) {
  return hs.calls.filter((c) => c.path.endsWith('/provision_user') && (c.body as any)?.localpart === localpart).map((c) => c.body as any);
}

before(async () => {
  if (skip) return;
  slapd = await startSlapd({ tls: true });
  aliceDn = await slapd.addUser('alice', { password: PASSWORDS.alice, displayName: 'Alice Liddell', mail: ['alice@example.org'], employeeNumber: '4711' });
  await slapd.addUser('bob', { parent: STAFF, password: PASSWORDS.bob, displayName: 'Bob Builder', mail: ['bob@example.org'], employeeNumber: '4712' });
  await slapd.addUser('Carmen', { password: PASSWORDS.carmen, displayName: 'Carmen', mail: ['carmen@example.org'] });
  await slapd.addUser('mallory', { password: PASSWORDS.mallory, matrix: false });
  await slapd.addUser('oscar', { parent: OUTSIDERS, password: PASSWORDS.oscar });
  await slapd.addUser('dora', { password: PASSWORDS.dora, userAccountControl: 514 });

  dir = await mkdtemp(join(tmpdir(), 'mauth-ldap-'));
  const bindPasswordFile = join(dir, 'bind-password');
  await writeFile(bindPasswordFile, `${slapd.servicePassword}\n`);
  const secret = randomBytes(16).toString('hex');
  hs = await startHomeserverDouble({ secret, serverName: SERVER_NAME });
  mauth = await createMauth({
    homeserverUrl: hs.url,
    serverName: SERVER_NAME,
    secret,
    extra: {
      account: { login_with_email_allowed: true },
      username_rewrite: { rules: [{ regex: '^[0-9]+$', medium: 'employee_id' }] },
      ldap: {
        enabled: true,
        uri: slapd.url,
        start_tls: true,
        ca_file: slapd.caFile,
        bind_dn: SERVICE_DN,
        bind_password_file: bindPasswordFile,
        base_dns: [PEOPLE, STAFF],
        user_filter: '(&(objectClass=inetOrgPerson)(employeeType=matrix))',
        login_attributes: ['uid', 'mail'],
        attributes: { localpart: 'uid', display_name: 'displayName', email: 'mail', threepids: { employee_id: ['employeeNumber'] } },
        localpart_template: '{{ user.uid | lower }}',
        connect_timeout: 5,
        timeout: 5,
      },
    },
  });
  assert.equal((await mauth.cli('manage', 'register-user', 'lucy', '--password', PASSWORDS.lucy, '--yes')).code, 0);
  // Debug level logs every request, so the log test below sees as much as an operator could.
  const level = process.env.MAUTH_LOG_LEVEL;
  process.env.MAUTH_LOG_LEVEL = 'debug';
  try {
    await mauth.start();
  } finally {
    if (level === undefined) delete process.env.MAUTH_LOG_LEVEL;
    else process.env.MAUTH_LOG_LEVEL = level;
  }
});

after(async () => {
  await mauth?.stop();
  await mauth?.drop();
  await hs?.stop();
  await slapd?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('directory login over StartTLS', { skip }, () => {
  test('compat: the first login by uid creates the account from the entry and provisions it on the homeserver', async () => {
    const res = await byUser('ALICE', PASSWORDS.alice);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.equal(res.body.user_id, `@alice:${SERVER_NAME}`);
    const info = await introspect(mauth.url, mauth.secret, res.body.access_token);
    assert.equal(info.body.active, true);
    assert.equal(info.body.username, 'alice');

    const provisioned = await hs.waitFor((c) => c.path.endsWith('/provision_user') && (c.body as any)?.localpart === 'alice');
    assert.equal((provisioned.body as any).set_displayname, 'Alice Liddell');
    assert.deepEqual((provisioned.body as any).set_emails, ['alice@example.org']);

    const sql = postgres(mauth.databaseUrl, { max: 1, onnotice: () => {} });
    try {
      const [user] = await sql`SELECT username, display_name, password_source FROM users WHERE username = 'alice'`;
      assert.deepEqual({ ...user }, { username: 'alice', display_name: 'Alice Liddell', password_source: 'directory' });
      const passwords = await sql`SELECT 1 FROM user_passwords p JOIN users u ON u.id = p.user_id WHERE u.username = 'alice'`;
      assert.equal(passwords.length, 0, 'a directory password is never stored');
      const [link] = await sql`SELECT subject, dn FROM directory_accounts`;
      assert.deepEqual({ ...link }, { subject: 'alice', dn: aliceDn });
    } finally {
      await sql.end();
    }
  });

  test('compat: by e-mail (m.id.thirdparty and as a name) and by employee number through a rewrite rule', async () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ type: 'm.id.thirdparty', medium: 'email', address: 'Bob@Example.org' }, 'bob'],
      [{ type: 'm.id.user', user: 'bob@example.org' }, 'bob'],
      [{ type: 'm.id.user', user: '4712' }, 'bob'],
      [{ type: 'm.id.user', user: '4711' }, 'alice'],
      [{ type: 'm.id.user', user: `@alice:${SERVER_NAME}` }, 'alice'],
    ];
    for (const [identifier, who] of cases) {
      const res = await login(identifier, who === 'bob' ? PASSWORDS.bob : PASSWORDS.alice);
      assert.equal(res.status, 200, `${JSON.stringify(identifier)}: ${JSON.stringify(res.body)}`);
      assert.equal(res.body.user_id, `@${who}:${SERVER_NAME}`);
    }
    const bob = await hs.waitFor((c) => c.path.endsWith('/provision_user') && (c.body as any)?.localpart === 'bob');
    assert.equal((bob.body as any).set_displayname, 'Bob Builder');
    assert.deepEqual((bob.body as any).set_emails, ['bob@example.org']);
  });

  async function browserSignIn(username: string, password: string): Promise<string> {
    const browser = new Browser(mauth.url);
    const page = await browser.get('/login');
    const form = parseForms(await page.text()).find((f) => f.action.startsWith('/login'))!;
    const res = await browser.postForm(form.action, { ...form.fields, username, password });
    assert.equal(res.status, 303, await res.text());
    const account = await browser.get('/account/');
    assert.equal(account.status, 200);
    return account.text();
  }

  test('browser: a directory user signs in with the login form by uid (the account named by the template), e-mail or employee number', async () => {
    assert.match(await browserSignIn('carmen', PASSWORDS.carmen), new RegExp(`@carmen:${SERVER_NAME.replace('.', '\\.')}`));
    const provisioned = await hs.waitFor((c) => c.path.endsWith('/provision_user') && (c.body as any)?.localpart === 'carmen');
    assert.deepEqual((provisioned.body as any).set_emails, ['carmen@example.org']);
    assert.match(await browserSignIn('Carmen@Example.org', PASSWORDS.carmen), /@carmen:/);
    assert.match(await browserSignIn('4712', PASSWORDS.bob), /@bob:/);
  });

  test('a later login brings a changed display name and e-mail from the directory to the homeserver', async () => {
    assert.equal((await byUser('alice', PASSWORDS.alice)).status, 200);
    const before = provisionCalls('alice').length;
    await slapd.modify(aliceDn, 'displayName', ['Alice Pleasance Liddell']);
    await slapd.modify(aliceDn, 'mail', ['alice.liddell@example.org']);
    assert.equal((await byUser('alice', PASSWORDS.alice)).status, 200);
    const pushed = await hs.waitFor(
      (c) => c.path.endsWith('/provision_user') && (c.body as any)?.localpart === 'alice' && (c.body as any)?.set_displayname === 'Alice Pleasance Liddell',
    );
    assert.deepEqual((pushed.body as any).set_emails, ['alice.liddell@example.org']);
    assert.ok(provisionCalls('alice').length > before);
    // The new address logs in, the old one no longer does.
    assert.equal((await login({ type: 'm.id.thirdparty', medium: 'email', address: 'alice.liddell@example.org' }, PASSWORDS.alice)).status, 200);
    assert.equal((await login({ type: 'm.id.thirdparty', medium: 'email', address: 'alice@example.org' }, PASSWORDS.alice)).status, 403);
  });

  test('refused with the ordinary 403 M_FORBIDDEN: wrong or empty password, outside user_filter or base_dns, disabled in AD, filter metacharacters', async () => {
    const refusals: [string, Record<string, unknown>, unknown][] = [
      ['wrong password', { type: 'm.id.user', user: 'alice' }, 'not-the-password'],
      ['empty password (directory user)', { type: 'm.id.user', user: 'alice' }, ''],
      ['empty password (unknown user)', { type: 'm.id.user', user: 'nobody' }, ''],
      ['empty password (local user)', { type: 'm.id.user', user: 'lucy' }, ''],
      ['outside user_filter', { type: 'm.id.user', user: 'mallory' }, PASSWORDS.mallory],
      ['outside base_dns', { type: 'm.id.user', user: 'oscar' }, PASSWORDS.oscar],
      ['disabled in Active Directory', { type: 'm.id.user', user: 'dora' }, PASSWORDS.dora],
      ['*', { type: 'm.id.user', user: '*' }, PASSWORDS.alice],
      ['a*', { type: 'm.id.user', user: 'a*' }, PASSWORDS.alice],
      [')(uid=*', { type: 'm.id.user', user: ')(uid=*' }, PASSWORDS.alice],
      ['alice)(uid=*', { type: 'm.id.user', user: 'alice)(uid=*' }, PASSWORDS.alice],
      ['*)(|(uid=*', { type: 'm.id.user', user: '*)(|(uid=*' }, PASSWORDS.alice],
      ['\\00', { type: 'm.id.user', user: '\\00' }, PASSWORDS.alice],
      ['alice\\00', { type: 'm.id.user', user: 'alice\\00' }, PASSWORDS.alice],
      ['NUL', { type: 'm.id.user', user: 'alice\u0000' }, PASSWORDS.alice],
      ['e-mail *', { type: 'm.id.thirdparty', medium: 'email', address: '*' }, PASSWORDS.alice],
      ['employee number with *', { type: 'm.id.user', user: '47*' }, PASSWORDS.alice],
    ];
    for (const [what, identifier, password] of refusals) {
      const res = await login(identifier, password);
      assert.equal(res.status, 403, `${what}: ${JSON.stringify(res.body)}`);
      assert.equal(res.body.errcode, 'M_FORBIDDEN', what);
      assert.equal(res.body.error, 'Invalid username or password.', what);
    }
    // The local user still logs in with the local password.
    assert.equal((await byUser('lucy', PASSWORDS.lucy)).status, 200);
    // None of the refused entries got an account.
    for (const name of ['mallory', 'oscar', 'dora']) assert.equal(provisionCalls(name).length, 0, name);
  });

  test('a user who leaves user_filter can no longer log in', async () => {
    assert.equal((await byUser('bob', PASSWORDS.bob)).status, 200);
    await slapd.modify(`uid=bob,${STAFF}`, 'employeeType', ['contractor']);
    const res = await byUser('bob', PASSWORDS.bob);
    assert.equal(res.status, 403, JSON.stringify(res.body));
    assert.equal(res.body.errcode, 'M_FORBIDDEN');
    await slapd.modify(`uid=bob,${STAFF}`, 'employeeType', ['matrix']);
    assert.equal((await byUser('bob', PASSWORDS.bob)).status, 200);
  });

  test('no password and no bind secret appear in the log (debug level)', async () => {
    // Logs arrive on their own pipe: a last request, then its line, and everything before it is in.
    const requestId = randomBytes(8).toString('hex');
    await fetch(`${mauth.url}/_matrix/client/v3/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-request-id': requestId },
      body: JSON.stringify({ type: 'm.login.password', identifier: { type: 'm.id.user', user: 'alice' }, password: PASSWORDS.alice }),
    });
    await mauth.waitForOutput(new RegExp(requestId));
    const output = mauth.output();
    assert.match(output, /account created from the directory/);
    for (const secret of [...Object.values(PASSWORDS), slapd.servicePassword, slapd.adminPassword]) {
      assert.ok(!output.includes(secret), `the log contains ${secret}`);
    }
  });
});
