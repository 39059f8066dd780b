// Black box: each `account.*_allowed: false` hides its section of the account pages and refuses
// its POSTs with 403 (an HTML page), before anything changes; the homeserver hears nothing.
// `passwords.enabled: false` hides the password section the same way.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { page, signIn } from '../support/account.js';
import type { HomeserverDouble } from '../support/homeserver-double.js';
import { location, parseForms } from '../support/http-client.js';
import { startInProcessSetup, type Setup } from '../support/homeserver-setup.js';
import type { InProcessMauth } from '../support/mauth-inprocess.js';
import type { SmtpCatcher } from '../support/smtp.js';

const SERVER_NAME = 'locked-down.test';
const PASSWORD = 'Locked-Down-Password-3!';

let setup: Setup<InProcessMauth>;
let hs: HomeserverDouble;
let smtp: SmtpCatcher;
let mauth: InProcessMauth;

before(async () => {
  setup = await startInProcessSetup({
    serverName: SERVER_NAME,
    // Mail works: the address form is hidden by the switch, not by a missing mail server.
    mailFrom: 'auth@locked-down.test',
    extra: {
      account: {
        displayname_change_allowed: false,
        email_change_allowed: false,
        password_change_allowed: false,
        account_deactivation_allowed: false,
      },
    },
    users: [{ name: 'ivy', password: PASSWORD, email: 'ivy@mail.test' }],
    beforeStart: async ({ cli }) => {
      const second = await cli('manage', 'add-email', 'ivy', 'ivy2@mail.test');
      assert.equal(second.code, 0, second.stderr);
    },
  });
  ({ hs, smtp, mauth } = setup);
});

after(() => setup?.stop());

const actions = (html: string) => parseForms(html).map((f) => f.action);

test('the home page and the menu leave out the password and deactivation sections', async () => {
  const browser = await signIn(mauth.url, 'ivy', PASSWORD);
  const home = await page(browser, '/account/');
  assert.doesNotMatch(home, /href="\/account\/password"/);
  assert.doesNotMatch(home, /href="\/account\/deactivate"/);
  assert.match(home, /href="\/account\/sessions"/);
  const sessions = await page(browser, '/account/sessions');
  assert.doesNotMatch(sessions, /href="\/account\/password"|href="\/account\/deactivate"/);
});

test('profile and addresses are shown without their forms', async () => {
  const browser = await signIn(mauth.url, 'ivy', PASSWORD);
  const profile = await page(browser, '/account/profile');
  assert.match(profile, /Display names cannot be changed on this server/);
  assert.ok(!actions(profile).includes('/account/profile'));
  const emails = await page(browser, '/account/emails');
  assert.match(emails, /ivy@mail\.test/);
  assert.match(emails, /E-mail addresses cannot be changed on this server/);
  assert.ok(!actions(emails).some((a) => a.startsWith('/account/emails')), 'no form to add or remove an address');
});

test('the pages of the password and deactivation sections answer 403', async () => {
  const browser = await signIn(mauth.url, 'ivy', PASSWORD);
  assert.match(await page(browser, '/account/password', 403), /Passwords cannot be changed here/);
  assert.match(await page(browser, '/account/deactivate', 403), /Accounts cannot be deactivated here/);
  const link = await browser.get('/account/?action=org.matrix.account_deactivate');
  assert.equal(location(link), '/account/deactivate');
  assert.match(await page(browser, location(link), 403), /Accounts cannot be deactivated here/);
});

test('every POST of a switched-off section is refused with 403 and changes nothing', async () => {
  const browser = await signIn(mauth.url, 'ivy', PASSWORD);
  // A page of a section still on gives the form token.
  const csrf = parseForms(await page(browser, '/account/'))[0].fields.csrf;
  // The account's own provisioning is done before counting.
  await mauth.jobsSettled();
  const before = hs.calls.length;
  const posts: [string, Record<string, string>, RegExp][] = [
    ['/account/profile', { display_name: 'Changed' }, /Display names cannot be changed here/],
    ['/account/emails', { email: 'new@mail.test' }, /E-mail addresses cannot be changed here/],
    ['/account/emails/remove', { email_id: 'any' }, /E-mail addresses cannot be changed here/],
    ['/account/password', { current_password: PASSWORD, new_password: 'Brand-New-Password-77!', new_password_confirm: 'Brand-New-Password-77!' }, /Passwords cannot be changed here/],
    ['/account/deactivate', { password: PASSWORD, confirm: 'on', erase: 'on' }, /Accounts cannot be deactivated here/],
  ];
  for (const [path, fields, message] of posts) {
    const res = await browser.postForm(path, { csrf, ...fields });
    assert.equal(res.status, 403, path);
    const html = await res.text();
    assert.match(res.headers.get('content-type') ?? '', /^text\/html/);
    assert.match(html, message, path);
  }
  await mauth.jobsSettled();
  assert.equal(hs.calls.length, before, 'nothing reached the homeserver');
  assert.equal(smtp.mails.length, 0, 'no code was mailed');
  assert.doesNotMatch(await page(browser, '/account/profile'), /Changed/);
  assert.match(await page(browser, '/account/emails'), /ivy2@mail\.test/);
  await signIn(mauth.url, 'ivy', PASSWORD);
});

test('with passwords off, the password section is gone too', async () => {
  // Same server, restarted with passwords off: sign-in is through the database session kept.
  const browser = await signIn(mauth.url, 'ivy', PASSWORD);
  await mauth.stop();
  const { writeFile, readFile } = await import('node:fs/promises');
  const overrides = mauth.configFiles[mauth.configFiles.length - 1];
  const original = await readFile(overrides, 'utf8');
  await writeFile(overrides, `${original}\npasswords:\n  enabled: false\n`);
  try {
    await mauth.start();
    const home = await page(browser, '/account/');
    assert.doesNotMatch(home, /href="\/account\/password"/);
    assert.match(await page(browser, '/account/password', 403), /Passwords cannot be changed here/);
  } finally {
    await mauth.stop();
    await writeFile(overrides, original);
    await mauth.start();
  }
});

test('no request in this file produced a 5xx or an error log', () => {
  assert.doesNotMatch(mauth.output(), /"status":5\d\d|request failed|unhandled error|"level":50/);
});

test('discovery does not offer deactivation to apps when it is switched off', async () => {
  const discovery = (await (await fetch(`${mauth.url}/.well-known/openid-configuration`)).json()) as { account_management_actions_supported: string[] };
  assert.ok(discovery.account_management_actions_supported.includes('org.matrix.profile'));
  assert.ok(!discovery.account_management_actions_supported.includes('org.matrix.account_deactivate'));
});
