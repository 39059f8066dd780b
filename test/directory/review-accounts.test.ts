// Review of directory accounts: an entry signs in only to its own account (two entries with the
// same uid in different base DNs do not share one), and a directory account is never offered a
// local password (recovery mails no link, an old link explains why, `manage set-password` refuses).
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { startHomeserverDouble, type HomeserverDouble } from '../support/homeserver-double.js';
import { Browser, parseForms } from '../support/http-client.js';
import { createInProcessMauth, type InProcessMauth } from '../support/mauth-inprocess.js';
import { PEOPLE, SERVICE_DN, STAFF, slapdAvailable, startSlapd, type Slapd } from '../support/slapd.js';
import { startSmtp, type SmtpCatcher } from '../support/smtp.js';

const SERVER_NAME = 'review-ldap.test';
const skip = !slapdAvailable || process.env.MAUTH_TEST_DATABASE === 'embedded' ? 'needs slapd and PostgreSQL' : false;

const PW = {
  alice: 'Alice-directory-pw-1',
  eve: 'Eve-is-also-alice-pw-1',
  dave: 'Dave-directory-pw-1',
  lucyLocal: 'Lucy-local-pw-1',
  lucy: 'Lucy-directory-pw-1',
};

let slapd: Slapd;
let hs: HomeserverDouble;
let smtp: SmtpCatcher;
let mauth: InProcessMauth;

async function login(identifier: Record<string, unknown>, password: string) {
  const res = await fetch(`${mauth.url}/_matrix/client/v3/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ type: 'm.login.password', identifier, password }),
  });
  return { status: res.status, body: (await res.json()) as any };
}
const byEmail = (address: string, password: string) => login({ type: 'm.id.thirdparty', medium: 'email', address }, password);

async function askForRecovery(browser: Browser, email: string) {
  const res = await browser.get('/recover');
  const start = parseForms(await res.text())[0]!;
  const sent = await browser.postForm(start.action, { ...start.fields, email });
  assert.equal(sent.status, 200);
  await mauth.jobsSettled();
}

before(async () => {
  if (skip) return;
  slapd = await startSlapd();
  await slapd.addUser('alice', { password: PW.alice, displayName: 'Alice', mail: ['alice@example.org'] });
  await slapd.addUser('dave', { password: PW.dave, mail: ['dave@example.org'] });
  await slapd.addUser('lucy', { password: PW.lucy, mail: ['lucy@mail.test'] });
  const secret = randomBytes(16).toString('hex');
  hs = await startHomeserverDouble({ secret, serverName: SERVER_NAME });
  smtp = await startSmtp();
  const generous = { burst: 1000, per_second: 100 };
  mauth = await createInProcessMauth({
    homeserverUrl: hs.url,
    serverName: SERVER_NAME,
    secret,
    extra: {
      account: { login_with_email_allowed: true, password_recovery_enabled: true },
      email: { transport: 'smtp', mode: 'plain', hostname: '127.0.0.1', port: smtp.port, from: 'auth@review-ldap.test' },
      rate_limiting: { login: { per_ip: generous, per_account: generous }, account_recovery: { per_ip: generous, per_address: generous } },
      ldap: {
        enabled: true,
        uri: slapd.url,
        bind_dn: SERVICE_DN,
        bind_password: slapd.servicePassword,
        base_dns: [PEOPLE, STAFF],
        user_filter: '(employeeType=matrix)',
        on_conflict: 'add',
      },
    },
  });
  const r = await mauth.cli('manage', 'register-user', 'lucy', '--password', PW.lucyLocal, '--email', 'lucy@mail.test', '--yes');
  assert.equal(r.code, 0, r.stderr);
  await mauth.start();
});

after(async () => {
  await mauth?.stop();
  await mauth?.drop();
  await smtp?.stop().catch(() => {});
  await hs?.stop();
  await slapd?.close();
});

describe('an entry signs in to its own account only', { skip }, () => {
  test('a second entry with the same uid (another base DN) does not get into the first one\'s account', async () => {
    const first = await byEmail('alice@example.org', PW.alice);
    assert.equal(first.status, 200, JSON.stringify(first.body));
    assert.equal(first.body.user_id, `@alice:${SERVER_NAME}`);
    // Another person's entry, in another base DN, gets the same uid.
    await slapd.addUser('alice', { parent: STAFF, password: PW.eve, displayName: 'Eve', mail: ['eve@example.org'] });
    const second = await byEmail('eve@example.org', PW.eve);
    assert.equal(second.status, 403, JSON.stringify(second.body));
    assert.notEqual(second.body.user_id, `@alice:${SERVER_NAME}`);
    // The account's own entry still signs in.
    assert.equal((await byEmail('alice@example.org', PW.alice)).status, 200);
    // With no account yet, an ambiguous uid gives nobody the account.
    await slapd.addUser('bert', { password: PW.alice, mail: ['bert@example.org'] });
    await slapd.addUser('bert', { parent: STAFF, password: PW.eve, mail: ['bert2@example.org'] });
    assert.equal((await byEmail('bert2@example.org', PW.eve)).status, 403);
    assert.equal((await byEmail('bert@example.org', PW.alice)).status, 403);
  });
});

describe('directory accounts have no local password', { skip }, () => {
  test('recovery mails no link to a directory account; manage set-password refuses', async () => {
    assert.equal((await byEmail('dave@example.org', PW.dave)).status, 200);
    const before = smtp.mails.length;
    await askForRecovery(new Browser(mauth.url), 'dave@example.org');
    assert.deepEqual(smtp.mails.slice(before).filter((m) => m.to.includes('dave@example.org')), []);
    const set = await mauth.cli('manage', 'set-password', 'dave', 'Another-Password-88!');
    assert.notEqual(set.code, 0);
    assert.match(set.stderr, /kept in the directory/);
  });

  test('a link mailed before the account was linked to the directory explains, and sets nothing', async () => {
    const browser = new Browser(mauth.url);
    const before = smtp.mails.length;
    await askForRecovery(browser, 'lucy@mail.test');
    const mail = await smtp.waitFor((m) => smtp.mails.indexOf(m) >= before && m.to.includes('lucy@mail.test'), 30_000);
    const link = /(http:\/\/\S+recover\/complete\?ticket=\S+)/.exec(mail.text)?.[1];
    assert.ok(link, mail.text);
    let res = await browser.get(link);
    const form = parseForms(await res.text()).find((f) => f.action.endsWith('/recover/complete'));
    assert.ok(form);
    // Now lucy's local account is linked to her directory entry (on_conflict: add).
    assert.equal((await login({ type: 'm.id.user', user: 'lucy' }, PW.lucy)).status, 200);
    res = await browser.get(link);
    assert.equal(res.status, 400);
    assert.match(await res.text(), /kept in your organisation(&#39;|&#x27;|')s directory/);
    res = await browser.postForm(form.action, { ...form.fields, password: 'Another-Password-88!', password_confirm: 'Another-Password-88!' });
    assert.equal(res.status, 400);
    assert.match(await res.text(), /kept in your organisation(&#39;|&#x27;|')s directory/);
    assert.equal((await login({ type: 'm.id.user', user: 'lucy' }, PW.lucy)).status, 200, 'the directory password still works');
  });
});
