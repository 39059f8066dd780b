// Black box: the account sections end to end against the homeserver double. The display name
// goes to the homeserver (set_displayname), addresses are added with a mailed code and removed
// (provision_user with set_emails; the last verified one stays), the password changes with the
// current one (optionally signing out everything else), the cross-signing reset is allowed after
// the password, and deactivation (with erase) ends every session and deletes the user.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { compatLogin, formOn, isActive, oauthLogin, page, signIn, submit } from '../support/account.js';
import type { HomeserverDouble } from '../support/homeserver-double.js';
import { Browser, location, parseForms } from '../support/http-client.js';
import { startInProcessSetup, type Setup } from '../support/homeserver-setup.js';
import type { InProcessMauth } from '../support/mauth-inprocess.js';
import type { RegisteredClient } from '../support/oauth-client.js';
import type { SmtpCatcher } from '../support/smtp.js';

const SERVER_NAME = 'sections.test';
const PASSWORD = 'Sections-Password-11!';
const NEW_PASSWORD = 'Quite-Another-Secret-42?';

let setup: Setup<InProcessMauth>;
let hs: HomeserverDouble;
let smtp: SmtpCatcher;
let mauth: InProcessMauth;
let client: RegisteredClient;

before(async () => {
  setup = await startInProcessSetup({
    serverName: SERVER_NAME,
    mailFrom: 'auth@sections.test',
    extra: { passwords: { minimum_complexity: 3 } },
    users: ['pat', 'erin', 'walt', 'dana', 'cross'].map((name) => ({ name, password: PASSWORD, email: `${name}@mail.test` })),
    nativeClient: true,
  });
  ({ hs, smtp, mauth, client } = setup);
});

after(() => setup?.stop());

const bodyOf = (c: { body: unknown }) => c.body as Record<string, unknown>;

describe('profile', () => {
  test('the display name is saved and sent to the homeserver; an empty one clears it', async () => {
    const browser = await signIn(mauth.url, 'pat', PASSWORD);
    let res = await submit(browser, '/account/profile', '/account/profile', { display_name: '  Pat Jones  ' });
    assert.equal(res.status, 200);
    let html = await res.text();
    assert.match(html, /Your display name was saved/);
    assert.match(html, /name="display_name" value="Pat Jones"/);
    const set = await hs.waitFor((c) => c.path === '/_synapse/mas/set_displayname');
    assert.deepEqual(set.body, { localpart: 'pat', displayname: 'Pat Jones' });
    assert.equal(hs.users.get('pat')?.displayName, 'Pat Jones');
    assert.match(await page(browser, '/account/'), /\(Pat Jones\)/);

    res = await submit(browser, '/account/profile', '/account/profile', { display_name: 'x'.repeat(257) });
    assert.equal(res.status, 400);
    html = await res.text();
    assert.match(html, /aria-describedby="display_name-help display_name-error"/);
    assert.match(html, /id="display_name-error"[^>]*>A display name can be at most 256 characters/);

    res = await submit(browser, '/account/profile', '/account/profile', { display_name: '' });
    assert.equal(res.status, 200);
    const unset = await hs.waitFor((c) => c.path === '/_synapse/mas/unset_displayname');
    assert.deepEqual(unset.body, { localpart: 'pat' });
    assert.equal(hs.users.get('pat')?.displayName, null);
  });
});

describe('e-mail addresses', () => {
  test('an address added with its mailed code and one removed reach the homeserver; the last verified one stays', async () => {
    const browser = await signIn(mauth.url, 'erin', PASSWORD);
    let res = await submit(browser, '/account/emails', '/account/emails', { email: 'erin.work@mail.test' });
    assert.equal(res.status, 303);
    const verifyPath = location(res);
    const mail = await smtp.waitFor((m) => m.to.includes('erin.work@mail.test'));
    const code = /\b(\d{6})\b/.exec(mail.text)?.[1];
    assert.ok(code);
    const verify = parseForms(await page(browser, verifyPath)).find((f) => f.action === verifyPath)!;
    res = await browser.postForm(verify.action, { ...verify.fields, code });
    assert.equal(res.status, 200);
    assert.match(await res.text(), /erin\.work@mail\.test is verified/);
    const added = await hs.waitFor((c) => c.path === '/_synapse/mas/provision_user' && JSON.stringify(bodyOf(c).set_emails ?? []).includes('erin.work'));
    assert.deepEqual(bodyOf(added).set_emails, ['erin@mail.test', 'erin.work@mail.test']);

    // Remove the first one: the homeserver gets the list without it.
    const list = await page(browser, '/account/emails');
    const first = /<li>erin@mail\.test[\s\S]*?name="email_id" value="([^"]+)"/.exec(list)?.[1];
    assert.ok(first, 'the first address has a remove button');
    const before = hs.calls.length;
    res = await browser.postForm('/account/emails/remove', { ...formOn(list, '/account/emails/remove', { email_id: first }).fields });
    assert.equal(res.status, 200);
    let html = await res.text();
    assert.match(html, /The address was removed/);
    assert.doesNotMatch(html, /<li>erin@mail\.test/);
    const removed = await hs.waitFor((c) => hs.calls.indexOf(c) >= before && c.path === '/_synapse/mas/provision_user');
    assert.deepEqual(bodyOf(removed).set_emails, ['erin.work@mail.test']);
    assert.deepEqual(hs.users.get('erin')?.emails, ['erin.work@mail.test']);

    // The one left is the only verified address, which registration requires: it stays.
    html = await page(browser, '/account/emails');
    assert.doesNotMatch(html, /action="\/account\/emails\/remove"/, 'no remove button for the last address');
    const lastId = (await mauthEmailIds('erin'))[0];
    res = await browser.postForm('/account/emails/remove', { csrf: formOn(html, '/account/emails').fields.csrf, email_id: lastId });
    assert.equal(res.status, 400);
    assert.match(await res.text(), /This is your only verified address/);
    assert.equal((await mauthEmailIds('erin')).length, 1);
  });
});

/** The ids of the user's addresses, read from the database. */
async function mauthEmailIds(username: string): Promise<string[]> {
  const postgres = (await import('postgres')).default;
  const sql = postgres(mauth.databaseUrl, { max: 1, onnotice: () => {} });
  try {
    const rows = await sql<{ id: string }[]>`SELECT e.id FROM user_emails e JOIN users u ON u.id = e.user_id WHERE u.username = ${username} ORDER BY e.created_at`;
    return rows.map((r) => r.id);
  } finally {
    await sql.end();
  }
}

describe('password', () => {
  test('a wrong current password is refused on its field; a weak new one too; nothing changes', async () => {
    const browser = await signIn(mauth.url, 'walt', PASSWORD);
    let res = await submit(browser, '/account/password', '/account/password', { current_password: 'not-it', new_password: NEW_PASSWORD, new_password_confirm: NEW_PASSWORD });
    assert.equal(res.status, 400);
    let html = await res.text();
    assert.match(html, /id="current_password"[^>]*aria-invalid="true" aria-describedby="current_password-error"/);
    assert.match(html, /id="current_password-error"[^>]*>That is not your current password/);

    res = await submit(browser, '/account/password', '/account/password', { current_password: PASSWORD, new_password: 'password1', new_password_confirm: 'password1' });
    assert.equal(res.status, 400);
    html = await res.text();
    assert.match(html, /id="new_password-error"[^>]*>This password is too weak/);

    res = await submit(browser, '/account/password', '/account/password', { current_password: PASSWORD, new_password: NEW_PASSWORD, new_password_confirm: `${NEW_PASSWORD}x` });
    assert.equal(res.status, 400);
    assert.match(await res.text(), /id="new_password_confirm-error"[^>]*>The passwords do not match/);
    // The old password still signs in.
    await signIn(mauth.url, 'walt', PASSWORD);
  });

  test('a change keeps the other sessions, unless asked to sign them out: then every other one ends', async () => {
    const oauth = await oauthLogin(mauth.url, client, { username: 'walt', password: PASSWORD });
    const legacy = await compatLogin(mauth.url, { username: 'walt', password: PASSWORD });
    const otherBrowser = await signIn(mauth.url, 'walt', PASSWORD);
    const browser = await signIn(mauth.url, 'walt', PASSWORD);

    let res = await submit(browser, '/account/password', '/account/password', { current_password: PASSWORD, new_password: NEW_PASSWORD, new_password_confirm: NEW_PASSWORD });
    assert.equal(res.status, 200);
    assert.match(await res.text(), /Your password was changed\./);
    assert.equal(await isActive(mauth.url, mauth.secret, oauth.access_token), true);
    assert.equal((await otherBrowser.get('/account/')).status, 200);

    const other = 'Third-Password-For-Walt-7$';
    res = await submit(browser, '/account/password', '/account/password', {
      current_password: NEW_PASSWORD,
      new_password: other,
      new_password_confirm: other,
      sign_out_others: 'on',
    });
    assert.equal(res.status, 200);
    assert.match(await res.text(), /other sessions were signed out/);
    assert.equal(await isActive(mauth.url, mauth.secret, oauth.access_token), false);
    assert.equal(await isActive(mauth.url, mauth.secret, legacy.access_token), false);
    assert.equal((await otherBrowser.get('/account/')).status, 303, 'the other browser is signed out');
    assert.equal((await browser.get('/account/')).status, 200, 'this browser stays signed in');
    await hs.waitFor((c) => c.path === '/_synapse/mas/delete_device' && bodyOf(c).device_id === oauth.deviceId);
    await mauth.jobsSettled();
    assert.equal(hs.devices('walt').has(legacy.device_id), false);
    await signIn(mauth.url, 'walt', other);
  });
});

describe('cross-signing reset', () => {
  test('the password allows it on the homeserver and the page sends the user back to the app; a wrong one allows nothing', async () => {
    const browser = await signIn(mauth.url, 'cross', PASSWORD);
    let res = await submit(browser, '/account/cross-signing', '/account/cross-signing', { password: 'wrong-password' });
    assert.equal(res.status, 400);
    assert.match(await res.text(), /id="password-error"[^>]*>That password is not right/);
    assert.ok(!hs.calls.some((c) => c.path.endsWith('/allow_cross_signing_reset')));

    res = await submit(browser, '/account/cross-signing', '/account/cross-signing', { password: PASSWORD });
    assert.equal(res.status, 200);
    const html = await res.text();
    assert.match(html, /Return to your app and finish the reset there within the next 10 minutes/);
    const call = await hs.waitFor((c) => c.path === '/_synapse/mas/allow_cross_signing_reset');
    assert.deepEqual(call.body, { localpart: 'cross' });
    assert.ok(hs.users.get('cross')?.crossSigningResetAllowedUntil);
  });

  test('a homeserver that fails answers 503 and says nothing was allowed', async () => {
    const browser = await signIn(mauth.url, 'cross', PASSWORD);
    hs.failNext('allow_cross_signing_reset', 1, 500);
    const res = await submit(browser, '/account/cross-signing', '/account/cross-signing', { password: PASSWORD });
    assert.equal(res.status, 503);
    assert.doesNotMatch(await res.text(), /Return to your app/);
  });
});

describe('deactivation', () => {
  test('a wrong password or a missing confirmation deactivates nothing', async () => {
    const browser = await signIn(mauth.url, 'dana', PASSWORD);
    let res = await submit(browser, '/account/deactivate', '/account/deactivate', { password: 'wrong', confirm: 'on' });
    assert.equal(res.status, 400);
    assert.match(await res.text(), /That password is not right/);
    res = await submit(browser, '/account/deactivate', '/account/deactivate', { password: PASSWORD });
    assert.equal(res.status, 400);
    assert.match(await res.text(), /id="confirm-error"[^>]*>Tick the box/);
    assert.equal((await browser.get('/account/')).status, 200);
    assert.ok(!hs.calls.some((c) => c.path.endsWith('/delete_user')));
  });

  test('with erase: every session ends, the homeserver deletes and erases the user, and nobody signs in again', async () => {
    const oauth = await oauthLogin(mauth.url, client, { username: 'dana', password: PASSWORD });
    const legacy = await compatLogin(mauth.url, { username: 'dana', password: PASSWORD });
    const otherBrowser = await signIn(mauth.url, 'dana', PASSWORD);
    const browser = await signIn(mauth.url, 'dana', PASSWORD);

    const res = await submit(browser, '/account/deactivate', '/account/deactivate', { password: PASSWORD, confirm: 'on', erase: 'on' });
    assert.equal(res.status, 200);
    assert.match(await res.text(), /Your account has been deactivated/);
    assert.equal(await isActive(mauth.url, mauth.secret, oauth.access_token), false);
    assert.equal(await isActive(mauth.url, mauth.secret, legacy.access_token), false);
    assert.equal((await browser.get('/account/')).status, 303);
    assert.equal((await otherBrowser.get('/account/')).status, 303);

    const call = await hs.waitFor((c) => c.path === '/_synapse/mas/delete_user');
    assert.deepEqual(call.body, { localpart: 'dana', erase: true });
    assert.equal(hs.users.get('dana')?.deactivated, true);
    assert.equal(hs.users.get('dana')?.erased, true);

    const login = new Browser(mauth.url);
    const form = parseForms(await page(login, '/login')).find((f) => f.action.startsWith('/login'))!;
    const refused = await login.postForm(form.action, { ...form.fields, username: 'dana', password: PASSWORD });
    assert.equal(refused.status, 403);
    assert.match(await refused.text(), /deactivated/);
    await mauth.jobsSettled();
  });
});

test('every homeserver job of this file succeeded', async () => {
  await mauth.jobsSettled();
  const postgres = (await import('postgres')).default;
  const sql = postgres(mauth.databaseUrl, { max: 1, onnotice: () => {} });
  try {
    const failed = await sql`SELECT kind, last_error FROM jobs WHERE status <> 'done'`;
    assert.deepEqual([...failed], []);
  } finally {
    await sql.end();
  }
});

test('no request in this file produced a 5xx other than the homeserver outage, nor an error log', () => {
  const lines = mauth.output().split('\n').filter((l) => /"status":5\d\d|request failed|unhandled error|"level":50/.test(l));
  assert.ok(lines.every((l) => /allow_cross_signing_reset|"status":503/.test(l)), lines.join('\n'));
});
