// Real browser: the account sections in Chromium, as a person uses them. The home page and the
// profile (the display name reaches the homeserver: set_displayname), e-mail addresses (one added
// with the mailed code, one removed: provision_user with set_emails), the password (a wrong
// current password is an error tied to its field; then the change), the cross-signing reset
// (the password, then allow_cross_signing_reset and the page sending the user back to the app)
// and deactivation with erase (delete_user with erase: true). Every page is screenshotted on
// desktop and at 390 px and fails on console errors, failed requests and horizontal overflow;
// axe-core checks every section. Elements are found by id, name and role, never by their English
// text, so that the pages' wording and language may change under these tests.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test, type TestContext } from 'node:test';
import type { Browser } from 'playwright-core';
import { signIn as signInOverHttp } from '../support/account.js';
import { Tab, launchChromium } from '../support/chromium.js';
import { startHomeserverDouble, type HomeserverDouble } from '../support/homeserver-double.js';
import { createInProcessMauth, type InProcessMauth } from '../support/mauth-inprocess.js';
import { startSmtp, type SmtpCatcher } from '../support/smtp.js';

const SUITE = 'account';
const SERVER_NAME = 'account-browser.test';
const PASSWORD = 'Account-Browser-Password-5!';
const NEW_PASSWORD = 'Entirely-Different-Secret-83?';

let browser: Browser;
let hs: HomeserverDouble;
let smtp: SmtpCatcher;
let mauth: InProcessMauth;
let base: string;

before(async () => {
  const secret = randomBytes(16).toString('hex');
  const launched = launchChromium();
  [hs, smtp] = await Promise.all([startHomeserverDouble({ secret, serverName: SERVER_NAME }), startSmtp()]);
  mauth = await createInProcessMauth({
    homeserverUrl: hs.url,
    serverName: SERVER_NAME,
    secret,
    extra: {
      branding: { service_name: 'Account Browser Test' },
      email: { transport: 'smtp', mode: 'plain', hostname: '127.0.0.1', port: smtp.port, from: 'accounts@account-browser.test' },
      passwords: { minimum_complexity: 3 },
    },
  });
  // One CLI process per user, side by side.
  for (const r of await Promise.all(['pat', 'walt', 'cross', 'dana'].map((name) => mauth.cli('manage', 'register-user', name, '--password', PASSWORD, '--email', `${name}@mail.test`, '--yes')))) {
    assert.equal(r.code, 0, r.stderr);
  }
  await mauth.start();
  base = mauth.url;
  browser = await launched;
});

after(async () => {
  await browser?.close();
  await mauth?.stop();
  await mauth?.drop();
  await smtp?.stop().catch(() => {});
  await hs?.stop();
});

async function open(t: TestContext): Promise<Tab> {
  const tab = await Tab.open(browser, SUITE, t.name);
  t.after(() => tab.close());
  return tab;
}

/** Opens `path` signed out, signs in on the login page it leads to, and lands back on `path`. */
async function signIn(tab: Tab, username: string, path: string, password = PASSWORD): Promise<void> {
  const { page } = tab;
  await page.goto(`${base}${path}`);
  assert.equal(new URL(page.url()).pathname, '/login', `${path} asks a signed-out browser to sign in`);
  await page.locator('#username').fill(username);
  await page.locator('#password').fill(password);
  await page.locator('form:has(#password) button[type=submit]').click();
  await page.waitForURL(`${base}${path}`);
}

/** The submit button of the form posting to `action`. */
const submitOf = (tab: Tab, action: string) => tab.page.locator(`form[action="${action}"] button[type=submit]`);

/** Follows the link to `path` (the home page's section headings, the other pages' navigation). */
async function navigate(tab: Tab, path: string): Promise<void> {
  await tab.page.locator(`main a[href="${path}"]`).first().click();
  await tab.page.waitForURL(`${base}${path}`);
}

/** An input is marked invalid and described by an error that is on the page, visible and not empty. */
async function assertFieldError(tab: Tab, field: string): Promise<void> {
  const input = tab.page.locator(`#${field}`);
  assert.equal(await input.getAttribute('aria-invalid'), 'true', `${field} is marked invalid`);
  const described = (await input.getAttribute('aria-describedby'))?.split(/\s+/) ?? [];
  assert.ok(described.includes(`${field}-error`), `${field} is described by its error (${described.join(' ')})`);
  const error = tab.page.locator(`#${field}-error`);
  assert.ok(await error.isVisible(), `the error of ${field} is shown`);
  assert.equal(await error.getAttribute('role'), 'alert', `the error of ${field} is announced`);
  assert.ok((await error.textContent())?.trim(), `the error of ${field} says something`);
}

const bodyOf = (c: { body: unknown }) => c.body as Record<string, unknown>;

/** A status notice (role=status) appeared: the page confirms what was done. */
const notice = (tab: Tab) => tab.page.locator('.notice[role=status]').waitFor();

/** A stuck page fails its test instead of holding the suite. */
const LIMIT = { timeout: 120_000 };

describe('the account sections in Chromium', () => {
  test('the account home links every section, and the display name set on the profile reaches the homeserver', LIMIT, async (t) => {
    const tab = await open(t);
    const { page } = tab;
    await signIn(tab, 'pat', '/account/');
    assert.match(await page.locator('.who').textContent() ?? '', /@pat:account-browser\.test/);
    for (const path of ['/account/profile', '/account/emails', '/account/password', '/account/sessions', '/account/cross-signing', '/account/deactivate']) {
      assert.equal(await page.locator(`main a[href="${path}"]`).count() > 0, true, `the home page links ${path}`);
    }
    await tab.step('account home');
    await tab.axe();

    await navigate(tab, '/account/profile');
    await tab.step('profile');
    await tab.axe();
    await page.locator('#display_name').fill('  Pat Jones  ');
    await submitOf(tab, '/account/profile').click();
    await notice(tab);
    assert.equal(await page.locator('#display_name').inputValue(), 'Pat Jones', 'the saved name is shown, trimmed');
    const set = await hs.waitFor((c) => c.path === '/_synapse/mas/set_displayname');
    assert.deepEqual(set.body, { localpart: 'pat', displayname: 'Pat Jones' });
    assert.equal(hs.users.get('pat')?.displayName, 'Pat Jones');
    await tab.step('profile saved');
    await tab.axe();
  });

  test('an address is added with the mailed code and another removed, and the homeserver gets each list', LIMIT, async (t) => {
    const tab = await open(t);
    const { page } = tab;
    await signIn(tab, 'pat', '/account/emails');
    await tab.step('e-mail addresses');
    await tab.axe();

    const sent = Date.now();
    await page.locator('#email').fill('pat.work@mail.test');
    await submitOf(tab, '/account/emails').click();
    await page.waitForURL(/\/account\/emails\/verify\/[^/]+$/);
    await tab.step('e-mail code');
    await tab.axe();
    const mail = await smtp.waitFor((m) => m.to.includes('pat.work@mail.test') && m.at.getTime() >= sent);
    const code = /\b(\d{6})\b/.exec(mail.text)?.[1];
    assert.ok(code, 'the mail carries a code');
    await page.locator('#code').fill(code);
    await page.locator('button[name=action][value=verify]').click();
    await notice(tab);
    const list = page.locator('ul.emails > li');
    assert.deepEqual((await list.allTextContents()).map((text) => /\S+@\S+/.exec(text)?.[0]), ['pat@mail.test', 'pat.work@mail.test']);
    const added = await hs.waitFor((c) => c.path === '/_synapse/mas/provision_user' && JSON.stringify(bodyOf(c).set_emails ?? []).includes('pat.work'));
    assert.deepEqual(bodyOf(added).set_emails, ['pat@mail.test', 'pat.work@mail.test']);
    await tab.step('address added');
    await tab.axe();

    const before = hs.calls.length;
    await list.filter({ hasText: /^\s*pat@mail\.test/ }).locator('form[action="/account/emails/remove"] button[type=submit]').click();
    await notice(tab);
    assert.deepEqual((await list.allTextContents()).map((text) => /\S+@\S+/.exec(text)?.[0]), ['pat.work@mail.test']);
    assert.equal(await page.locator('form[action="/account/emails/remove"]').count(), 0, 'the only verified address left cannot be removed');
    const removed = await hs.waitFor((c) => hs.calls.indexOf(c) >= before && c.path === '/_synapse/mas/provision_user');
    assert.deepEqual(bodyOf(removed).set_emails, ['pat.work@mail.test']);
    assert.deepEqual(hs.users.get('pat')?.emails, ['pat.work@mail.test']);
    await tab.step('address removed');
    await tab.axe();
  });

  test('a wrong current password is an error on its field; the right one changes the password', LIMIT, async (t) => {
    const tab = await open(t);
    const { page } = tab;
    await signIn(tab, 'walt', '/account/');
    await navigate(tab, '/account/password');
    await tab.step('password');
    await tab.axe();

    const fill = async (current: string) => {
      await page.locator('#current_password').fill(current);
      await page.locator('#new_password').fill(NEW_PASSWORD);
      await page.locator('#new_password_confirm').fill(NEW_PASSWORD);
      await submitOf(tab, '/account/password').click();
    };
    await fill('not-my-password');
    await page.locator('#current_password-error').waitFor();
    await assertFieldError(tab, 'current_password');
    await tab.step('password, wrong current password');
    await tab.axe();

    await fill(PASSWORD);
    await notice(tab);
    assert.equal(await page.locator('[aria-invalid=true]').count(), 0, 'no field is in error');
    await tab.step('password changed');
    await tab.axe();
    // Only the new password signs in now.
    await signInOverHttp(base, 'walt', NEW_PASSWORD);
    const old = await fetch(`${base}/_matrix/client/v3/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ type: 'm.login.password', identifier: { type: 'm.id.user', user: 'walt' }, password: PASSWORD }),
    });
    assert.equal(old.status, 403, 'the old password is refused');
  });

  test('the cross-signing reset asks for the password, allows the reset on the homeserver and sends the user back to the app', LIMIT, async (t) => {
    const tab = await open(t);
    const { page } = tab;
    await signIn(tab, 'cross', '/account/');
    await navigate(tab, '/account/cross-signing');
    await tab.step('cross-signing reset');
    await tab.axe();

    await page.locator('#password').fill('not-my-password');
    await submitOf(tab, '/account/cross-signing').click();
    await page.locator('#password-error').waitFor();
    await assertFieldError(tab, 'password');
    assert.ok(!hs.calls.some((c) => c.path.endsWith('/allow_cross_signing_reset')), 'a wrong password allows nothing');
    await tab.step('cross-signing reset, wrong password');
    await tab.axe();

    await page.locator('#password').fill(PASSWORD);
    await submitOf(tab, '/account/cross-signing').click();
    await notice(tab);
    const call = await hs.waitFor((c) => c.path === '/_synapse/mas/allow_cross_signing_reset');
    assert.deepEqual(call.body, { localpart: 'cross' });
    assert.ok(hs.users.get('cross')?.crossSigningResetAllowedUntil, 'the homeserver allows the reset');
    // The "return to your app" page: no form any more, the window the app has, a way back to the account.
    assert.equal(await page.locator('form[action="/account/cross-signing"]').count(), 0);
    assert.match((await page.locator('main').textContent()) ?? '', /\b10\b/, 'the page says how many minutes the app has');
    assert.equal(await page.locator('main a[href="/account/"]').count(), 1);
    await tab.step('return to your app');
    await tab.axe();
  });

  test('deactivation with erase deletes and erases the user on the homeserver and signs the browser out', LIMIT, async (t) => {
    const tab = await open(t);
    const { page } = tab;
    await signIn(tab, 'dana', '/account/');
    await navigate(tab, '/account/deactivate');
    await tab.step('deactivate');
    await tab.axe();

    await page.locator('#erase').check();
    await page.locator('#confirm').check();
    await page.locator('#password').fill(PASSWORD);
    await submitOf(tab, '/account/deactivate').click();
    await page.locator('main [role=status]').waitFor();
    const call = await hs.waitFor((c) => c.path === '/_synapse/mas/delete_user');
    assert.deepEqual(call.body, { localpart: 'dana', erase: true });
    assert.equal(hs.users.get('dana')?.deactivated, true);
    assert.equal(hs.users.get('dana')?.erased, true);
    assert.equal(await page.locator('nav.account-nav').count(), 0, 'no account navigation for a deactivated account');
    await tab.step('deactivated');
    await tab.axe();

    await page.goto(`${base}/account/`);
    assert.equal(new URL(page.url()).pathname, '/login', 'the browser is signed out');
  });
});

test('no request in this file produced a 5xx or an error log, and every homeserver job succeeded', async () => {
  await mauth.jobsSettled();
  assert.doesNotMatch(mauth.output(), /"status":5\d\d|request failed|unhandled error|"level":50/);
  const postgres = (await import('postgres')).default;
  const sql = postgres(mauth.databaseUrl, { max: 1, onnotice: () => {} });
  try {
    assert.deepEqual([...(await sql`SELECT kind, last_error FROM jobs WHERE status <> 'done'`)], []);
  } finally {
    await sql.end();
  }
});
