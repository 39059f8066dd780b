// Real browser: the sessions pages and the MSC4191 deep links in Chromium. The list shows an
// OAuth 2.0 app, a legacy (compat) client and this browser (marked current); a session's page
// renames its device (update_device_display_name on the homeserver). Every `?action=` an app
// sends lands on its page; the device actions find the device's session, and signing one out
// goes through a confirmation page (delete_device; its token is dead at introspection). A
// signed-out browser goes through the login page and comes back to the action. Every page is
// screenshotted on desktop and at 390 px and fails on console errors, failed requests and
// horizontal overflow; axe-core checks every page. Elements are found by id, name and role,
// never by their English text.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test, type TestContext } from 'node:test';
import type { Browser } from 'playwright-core';
import { compatLogin, isActive, oauthLogin } from '../support/account.js';
import { Tab, launchChromium } from '../support/chromium.js';
import { startHomeserverDouble, type HomeserverDouble } from '../support/homeserver-double.js';
import { createInProcessMauth, type InProcessMauth } from '../support/mauth-inprocess.js';
import { registerClient, type RegisteredClient } from '../support/oauth-client.js';

const SUITE = 'account-sessions';
const SERVER_NAME = 'sessions-browser.test';
const PASSWORD = 'Sessions-Browser-Password-3!';
const APP_NAME = 'Element X Test';

let browser: Browser;
let hs: HomeserverDouble;
let mauth: InProcessMauth;
let client: RegisteredClient;
let base: string;

before(async () => {
  const secret = randomBytes(16).toString('hex');
  const launched = launchChromium();
  hs = await startHomeserverDouble({ secret, serverName: SERVER_NAME });
  mauth = await createInProcessMauth({ homeserverUrl: hs.url, serverName: SERVER_NAME, secret, extra: { branding: { service_name: 'Sessions Browser Test' } } });
  // One CLI process per user, side by side.
  for (const r of await Promise.all(['sam', 'lee', 'max'].map((name) => mauth.cli('manage', 'register-user', name, '--password', PASSWORD, '--yes')))) {
    assert.equal(r.code, 0, r.stderr);
  }
  await mauth.start();
  base = mauth.url;
  const redirectUri = 'http://127.0.0.1/cb';
  const registered = await registerClient(base, {
    client_name: APP_NAME,
    application_type: 'native',
    client_uri: 'https://app.example.org/',
    redirect_uris: [redirectUri],
    token_endpoint_auth_method: 'none',
    response_types: ['code'],
    grant_types: ['authorization_code', 'refresh_token'],
  });
  const body = (await registered.json()) as { client_id: string };
  assert.equal(registered.status, 201, JSON.stringify(body));
  client = { client_id: body.client_id, redirect_uri: redirectUri };
  browser = await launched;
});

after(async () => {
  await browser?.close();
  await mauth?.stop();
  await mauth?.drop();
  await hs?.stop();
});

async function open(t: TestContext): Promise<Tab> {
  const tab = await Tab.open(browser, SUITE, t.name);
  t.after(() => tab.close());
  return tab;
}

/** On the login page: signs in and waits for `landing` (a path, or a test of the URL). */
async function logIn(tab: Tab, username: string, landing: string | ((url: URL) => boolean)): Promise<void> {
  const { page } = tab;
  assert.equal(new URL(page.url()).pathname, '/login', 'a signed-out browser is asked to sign in');
  await page.locator('#username').fill(username);
  await page.locator('#password').fill(PASSWORD);
  await page.locator('form:has(#password) button[type=submit]').click();
  await page.waitForURL(typeof landing === 'string' ? `${base}${landing}` : landing);
}

const pathOf = (tab: Tab) => new URL(tab.page.url()).pathname;

/** The entry of the session list of `kind` that shows `text` (a device id, a client id). */
const entry = (tab: Tab, kind: 'oauth2' | 'compat' | 'browser', text?: string) => {
  const all = tab.page.locator(`ul.sessions > li[id^="session-${kind}-"]`);
  return text === undefined ? all : all.filter({ hasText: text });
};

/** Where an app's deep link lands: a session's page, or its confirmation page. */
const SESSION_PAGE = /^\/account\/sessions\/(oauth2|compat)\/[0-9A-Za-z]+$/;
const END_PAGE = /^\/account\/sessions\/(oauth2|compat)\/[0-9A-Za-z]+\/end$/;

/** Where each page-level action lands. */
const PAGE_ACTIONS: Record<string, string> = {
  'org.matrix.profile': '/account/profile',
  'org.matrix.devices_list': '/account/sessions',
  'org.matrix.sessions_list': '/account/sessions',
  'org.matrix.cross_signing_reset': '/account/cross-signing',
  'org.matrix.account_deactivate': '/account/deactivate',
};

/** A stuck page fails its test instead of holding the suite. */
const LIMIT = { timeout: 120_000 };

describe('sessions and deep links in Chromium', () => {
  test('an OAuth 2.0 app, a legacy client and this browser are listed; a session has its page, where its device is renamed', LIMIT, async (t) => {
    const oauth = await oauthLogin(base, client, { username: 'sam', password: PASSWORD, userAgent: 'ElementX/1.0 (test phone)' });
    const legacy = await compatLogin(base, { username: 'sam', password: PASSWORD, deviceId: 'SAMLEGACY', displayName: 'Old laptop', userAgent: 'LegacyClient/2.0' });
    const tab = await open(t);
    const { page } = tab;
    await page.goto(`${base}/account/sessions`);
    await logIn(tab, 'sam', '/account/sessions');
    await tab.step('sessions');
    await tab.axe();

    const app = entry(tab, 'oauth2', oauth.deviceId);
    assert.equal(await app.count(), 1, 'the OAuth 2.0 session is listed with its device');
    const appText = (await app.textContent()) ?? '';
    assert.ok(appText.includes(APP_NAME), 'with the name of its app');
    assert.ok(appText.includes('ElementX/1.0 (test phone)'), 'with its user agent');
    assert.ok(appText.includes('127.0.0.1'), 'with its address');
    const old = entry(tab, 'compat', legacy.device_id);
    assert.equal(await old.count(), 1, 'the legacy session is listed with its device');
    assert.ok(((await old.textContent()) ?? '').includes('Old laptop'), 'named as it was at its login');
    // The browser the app's sign-in went through, and this one: marked current.
    assert.equal(await entry(tab, 'browser').count(), 2, 'both browsers are listed');
    const here = page.locator('ul.sessions > li[id^="session-browser-"].current');
    assert.equal(await here.locator('.badge').count(), 1, 'this browser is marked current');
    assert.equal(await page.locator('ul.sessions > li.current').count(), 1, 'only this browser is current');

    // This browser's own page.
    await here.locator('h2 a').click();
    await page.waitForURL(/\/account\/sessions\/browser\/[0-9A-Za-z]+$/);
    await tab.step('this browser');
    await tab.axe();
    assert.equal(await page.locator('form[action="/account/sessions/rename"]').count(), 0, 'a browser has no device to rename');
    await page.goBack();

    // The app's page, where its device gets a new name.
    await app.locator('h2 a').click();
    await page.waitForURL((url) => SESSION_PAGE.test(url.pathname));
    assert.equal(await page.locator('section.focus code').first().textContent(), oauth.deviceId);
    assert.ok(((await page.locator('section.focus').textContent()) ?? '').includes('ElementX/1.0 (test phone)'));
    await tab.step('app session');
    await tab.axe();
    await page.locator('#display_name').fill('Work phone');
    await page.locator('form[action="/account/sessions/rename"] button[type=submit]').click();
    await page.locator('.notice[role=status]').waitFor();
    assert.equal(await page.locator('h1').textContent(), 'Work phone', 'the page is titled with the new name');
    const call = await hs.waitFor((c) => c.path === '/_synapse/mas/update_device_display_name' && (c.body as { device_id?: string }).device_id === oauth.deviceId);
    assert.deepEqual(call.body, { localpart: 'sam', device_id: oauth.deviceId, display_name: 'Work phone' });
    assert.equal(hs.deviceDisplayName('sam', oauth.deviceId), 'Work phone');
    await tab.step('device renamed');
    await tab.axe();

    // The legacy session's page.
    await page.locator('nav.account-nav a[href="/account/sessions"]').click();
    await page.waitForURL(`${base}/account/sessions`);
    assert.ok(((await app.textContent()) ?? '').includes('Work phone'), 'the list shows the new name');
    await old.locator('h2 a').click();
    await page.waitForURL((url) => SESSION_PAGE.test(url.pathname));
    assert.equal(await page.locator('section.focus code').first().textContent(), legacy.device_id);
    await tab.step('legacy session');
    await tab.axe();
  });

  test('every page action of an app lands on its page', LIMIT, async (t) => {
    const tab = await open(t);
    const { page } = tab;
    await page.goto(`${base}/account/`);
    await logIn(tab, 'lee', '/account/');
    for (const [action, path] of Object.entries(PAGE_ACTIONS)) {
      await page.goto(`${base}/account/?action=${action}`);
      assert.equal(pathOf(tab), path, action);
      await tab.step(action);
      await tab.axe();
    }
    // An action this server does not know is the account home.
    await page.goto(`${base}/account/?action=org.example.unknown`);
    assert.equal(pathOf(tab), '/account/');
    assert.equal(await page.locator('main a[href="/account/sessions"]').count() > 0, true, 'the home page with its sections');
    await tab.step('unknown action');
  });

  test("the device actions show the device's session, and sign it out after a confirmation page: its token dies and the homeserver deletes the device", LIMIT, async (t) => {
    const oauth = await oauthLogin(base, client, { username: 'lee', password: PASSWORD });
    const legacy = await compatLogin(base, { username: 'lee', password: PASSWORD, deviceId: 'LEEOLDPHONE' });
    const tab = await open(t);
    const { page } = tab;
    await page.goto(`${base}/account/`);
    await logIn(tab, 'lee', '/account/');

    for (const [action, deviceId] of [
      ['org.matrix.device_view', oauth.deviceId],
      ['org.matrix.session_view', legacy.device_id],
    ]) {
      await page.goto(`${base}/account/?action=${action}&device_id=${deviceId}`);
      assert.match(pathOf(tab), SESSION_PAGE, action);
      assert.equal(await page.locator(`section.focus#session-${deviceId} code`).first().textContent(), deviceId, `${action}: the device's session`);
      await tab.step(action);
      await tab.axe();
    }

    for (const [action, deviceId, token] of [
      ['org.matrix.device_delete', oauth.deviceId, oauth.access_token],
      ['org.matrix.session_end', legacy.device_id, legacy.access_token],
    ]) {
      await page.goto(`${base}/account/?action=${action}&device_id=${deviceId}`);
      assert.match(pathOf(tab), END_PAGE, action);
      assert.equal(await page.locator('main code').first().textContent(), deviceId, `${action}: the confirmation names the device`);
      await tab.step(`${action} confirmation`);
      await tab.axe();
      assert.equal(await isActive(base, mauth.secret, token), true, 'nothing is signed out before the confirmation');

      await page.locator('form[action="/account/sessions/end"] button[type=submit]').click();
      await page.waitForURL(`${base}/account/sessions/end`);
      await page.locator('.notice[role=status]').waitFor();
      assert.equal(await page.locator('ul.sessions > li', { hasText: deviceId }).count(), 0, `${action}: the session is gone from the list`);
      assert.equal(await isActive(base, mauth.secret, token), false, `${action}: the token is dead at introspection`);
      const call = await hs.waitFor((c) => c.path === '/_synapse/mas/delete_device' && (c.body as { device_id?: string }).device_id === deviceId);
      assert.deepEqual(call.body, { localpart: 'lee', device_id: deviceId });
      await tab.step(`${action} done`);
      await tab.axe();
    }
    assert.equal(hs.devices('lee').has(oauth.deviceId), false);
    assert.equal(hs.devices('lee').has(legacy.device_id), false);

    // A device that is not signed in (any more).
    await page.goto(`${base}/account/?action=org.matrix.device_view&device_id=${oauth.deviceId}`);
    assert.equal(await page.locator('main [role=alert] code').textContent(), oauth.deviceId, 'the page says which device is not signed in');
    await tab.step('device not signed in');
    await tab.axe();
  });

  test('a signed-out browser signs in and comes back to every action', LIMIT, async (t) => {
    const oauth = await oauthLogin(base, client, { username: 'max', password: PASSWORD, deviceId: 'MAXPHONE01' });
    const tab = await open(t);
    const { page } = tab;
    const links: [string, string, string | RegExp][] = [
      ...Object.entries(PAGE_ACTIONS).map(([action, path]): [string, string, string] => [action, `?action=${action}`, path]),
      ['org.matrix.device_view', `?action=org.matrix.device_view&device_id=${oauth.deviceId}`, SESSION_PAGE],
      ['org.matrix.device_delete', `?action=org.matrix.device_delete&device_id=${oauth.deviceId}`, END_PAGE],
    ];
    for (const [action, query, target] of links) {
      await page.context().clearCookies();
      await page.goto(`${base}/account/${query}`);
      if (action === links[0]![0]) await tab.step('signed out: login');
      await logIn(tab, 'max', (url) => url.pathname !== '/login');
      if (typeof target === 'string') assert.equal(pathOf(tab), target, query);
      else assert.match(pathOf(tab), target, query);
      await tab.step(`signed out, then ${action}`);
    }
    assert.equal(await isActive(base, mauth.secret, oauth.access_token), true, 'following the links signed nothing out');
  });
});

test('no request in this file produced a 5xx or an error log', () => {
  assert.doesNotMatch(mauth.output(), /"status":5\d\d|request failed|unhandled error|"level":50/);
});
