// Black box: MSC4191 deep links. Every action the discovery document lists takes the browser to
// its page (device actions to the device's session, signing out through a confirmation page);
// a signed-out browser goes through the login page and comes back to the action; an unknown
// action lands on the account home. And every account form refuses a POST without its CSRF token.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { compatLogin, formOn, isActive, oauthLogin, page, signIn } from '../support/account.js';
import type { HomeserverDouble } from '../support/homeserver-double.js';
import { Browser, location, parseForms } from '../support/http-client.js';
import { startSetup, type Setup } from '../support/homeserver-setup.js';
import type { MauthInstance } from '../support/mauth-process.js';
import type { RegisteredClient } from '../support/oauth-client.js';

const SERVER_NAME = 'links.test';
const PASSWORD = 'Deep-Links-Password-9!';

let setup: Setup<MauthInstance>;
let hs: HomeserverDouble;
let mauth: MauthInstance;
let client: RegisteredClient;

before(async () => {
  setup = await startSetup({
    serverName: SERVER_NAME,
    users: ['lee', 'max'].map((name) => ({ name, password: PASSWORD })),
    nativeClient: true,
  });
  ({ hs, mauth, client } = setup);
});

after(() => setup?.stop());

/** Where each page-level action lands, and a heading that page shows. */
const PAGES: Record<string, [string, RegExp]> = {
  'org.matrix.profile': ['/account/profile', /<h1>Profile<\/h1>/],
  'org.matrix.devices_list': ['/account/sessions', /<h1>Sessions<\/h1>/],
  'org.matrix.sessions_list': ['/account/sessions', /<h1>Sessions<\/h1>/],
  'org.matrix.cross_signing_reset': ['/account/cross-signing', /<h1>Reset your encryption identity<\/h1>/],
  'org.matrix.account_deactivate': ['/account/deactivate', /<h1>Deactivate your account<\/h1>/],
};
const DEVICE_ACTIONS = ['org.matrix.device_view', 'org.matrix.session_view', 'org.matrix.device_delete', 'org.matrix.session_end'];

test('discovery lists every action, and each one lands on its page', async () => {
  const res = await fetch(`${mauth.url}/.well-known/openid-configuration`);
  const discovery = (await res.json()) as { account_management_uri: string; account_management_actions_supported: string[] };
  assert.equal(discovery.account_management_uri, `${mauth.url}/account/`);
  assert.deepEqual([...discovery.account_management_actions_supported].sort(), [...Object.keys(PAGES), ...DEVICE_ACTIONS].sort());

  const browser = await signIn(mauth.url, 'lee', PASSWORD);
  for (const [action, [path, heading]] of Object.entries(PAGES)) {
    const landed = await browser.get(`/account/?action=${action}`);
    assert.equal(landed.status, 303, action);
    assert.equal(location(landed), path, action);
    assert.match(await page(browser, path), heading, action);
  }
});

test('device actions find the session of the device: view shows it, end asks first and then signs it out', async () => {
  const oauth = await oauthLogin(mauth.url, client, { username: 'lee', password: PASSWORD });
  const legacy = await compatLogin(mauth.url, { username: 'lee', password: PASSWORD, deviceId: 'LEEOLDPHONE' });
  const browser = await signIn(mauth.url, 'lee', PASSWORD);

  for (const [action, deviceId, kind] of [
    ['org.matrix.device_view', oauth.deviceId, 'oauth2'],
    ['org.matrix.session_view', legacy.device_id, 'compat'],
  ]) {
    const res = await browser.get(`/account/?action=${action}&device_id=${deviceId}`);
    assert.equal(res.status, 303);
    assert.match(location(res), new RegExp(`^/account/sessions/${kind}/[0-9A-Z]+$`));
    const html = await page(browser, location(res));
    assert.match(html, new RegExp(`<code>${deviceId}</code>`));
    assert.match(html, new RegExp(`id="session-${deviceId}" class="focus"`));
  }

  for (const [action, token, deviceId] of [
    ['org.matrix.device_delete', oauth.access_token, oauth.deviceId],
    ['org.matrix.session_end', legacy.access_token, legacy.device_id],
  ]) {
    const res = await browser.get(`/account/?action=${action}&device_id=${deviceId}`);
    assert.equal(res.status, 303);
    assert.match(location(res), /\/end$/);
    const confirm = await page(browser, location(res));
    assert.match(confirm, new RegExp(`The device <code>${deviceId}</code> will be signed out`));
    assert.equal(await isActive(mauth.url, mauth.secret, token), true, 'nothing happens before the confirmation');
    const form = formOn(confirm, '/account/sessions/end');
    const ended = await browser.postForm(form.action, form.fields);
    assert.equal(ended.status, 200);
    assert.equal(await isActive(mauth.url, mauth.secret, token), false, action);
    const call = await hs.waitFor((c) => c.path === '/_synapse/mas/delete_device' && (c.body as { device_id?: string }).device_id === deviceId);
    assert.deepEqual(call.body, { localpart: 'lee', device_id: deviceId });
  }

  const unknown = await browser.get('/account/?action=org.matrix.device_view&device_id=NOSUCHDEVICE');
  assert.equal(unknown.status, 404);
  assert.match(await unknown.text(), /The device <code>NOSUCHDEVICE<\/code> is not signed in/);
  const noDevice = await browser.get('/account/?action=org.matrix.session_end');
  assert.equal(location(noDevice), '/account/sessions', 'a device action without a device shows the list');
});

test('a signed-out browser is sent to the login page and comes back to the action afterwards', async () => {
  const oauth = await oauthLogin(mauth.url, client, { username: 'max', password: PASSWORD });
  const links = [
    ...Object.keys(PAGES).map((action) => `/account/?action=${action}`),
    `/account/?action=org.matrix.session_end&device_id=${oauth.deviceId}`,
    // Without the slash, as some clients build it: the action survives the redirect.
    '/account?action=org.matrix.profile',
  ];
  for (const link of links) {
    const browser = new Browser(mauth.url);
    let res = await browser.get(link);
    if (!link.startsWith('/account/')) {
      assert.equal(res.status, 301, link);
      res = await browser.get(location(res));
    }
    assert.equal(res.status, 303, link);
    const login = location(res);
    assert.match(login, /^\/login\?next=/, link);
    const back = new URL(login, mauth.url).searchParams.get('next')!;
    assert.match(back, /\?action=org\.matrix\./, `${link}: the action is kept`);
    const form = parseForms(await page(browser, login)).find((f) => f.action.startsWith('/login'))!;
    res = await browser.postForm(form.action, { ...form.fields, username: 'max', password: PASSWORD });
    assert.equal(res.status, 303);
    assert.equal(location(res), back, link);
    res = await browser.get(back);
    assert.equal(res.status, 303, `${link}: the action is carried out once signed in`);
    const target = location(res);
    if (link.includes('device_id')) assert.match(target, /^\/account\/sessions\/oauth2\/[0-9A-Z]+\/end$/);
    else assert.equal(target, PAGES[new URL(link, mauth.url).searchParams.get('action')!][0], link);
    await page(browser, target);
  }
});

test('an unknown action, or none, is the account home', async () => {
  const browser = await signIn(mauth.url, 'lee', PASSWORD);
  for (const link of ['/account/?action=org.example.unknown', '/account/?action=', '/account/']) {
    const html = await page(browser, link);
    assert.match(html, /<h1>Your account<\/h1>/, link);
    assert.match(html, /@lee:links\.test/);
  }
});

const FORMS = [
  '/account/profile',
  '/account/emails',
  '/account/emails/remove',
  '/account/password',
  '/account/sessions/end',
  '/account/sessions/rename',
  '/account/cross-signing',
  '/account/deactivate',
];

test('every account form refuses a POST without its CSRF token, before doing anything', async () => {
  const browser = await signIn(mauth.url, 'lee', PASSWORD);
  const before = hs.calls.length;
  for (const path of FORMS) {
    const res = await browser.postForm(path, { display_name: 'Mallory', password: PASSWORD, confirm: 'on', current_password: PASSWORD, new_password: 'x', email: 'a@b.test' });
    assert.equal(res.status, 403, path);
    assert.match(await res.text(), /The form expired/, path);
    const forged = await browser.postForm(path, { csrf: 'not-the-token', display_name: 'Mallory', password: PASSWORD, confirm: 'on' });
    assert.equal(forged.status, 403, path);
  }
  const changes = hs.calls.slice(before).filter((c) => /set_displayname|delete_user|allow_cross_signing_reset|update_device_display_name|provision_user/.test(c.path));
  assert.deepEqual(changes, [], 'nothing reached the homeserver');
  assert.equal((await browser.get('/account/')).status, 200, 'still signed in, not deactivated');
  assert.doesNotMatch(await page(browser, '/account/profile'), /Mallory/);
});

test('no request in this file produced a 5xx or an error log', () => {
  assert.doesNotMatch(mauth.output(), /"status":5\d\d|request failed|unhandled error|"level":50/);
});
