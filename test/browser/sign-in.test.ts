// Real browser: the sign-in pages in Chromium, as a person meets them. An app's authorization
// request through login and consent to its code (which the token endpoint accepts), then a device
// linked with the code it shows (/link and its consent); registration with the code mailed to the
// address; account recovery with the mailed link; registration through an upstream identity
// provider; the same sign-in in German with JavaScript off. Every step is screenshotted on desktop
// and at 390 px and fails on console errors, failed requests and horizontal overflow
// (test/support/chromium.ts); axe-core checks login, consent, /link, device consent and registration.
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test, type TestContext } from 'node:test';
import type { Browser } from 'playwright-core';
import { Tab, launchChromium } from '../support/chromium.js';
import { pkce, registerClient, registerNativeClient, tokenRequest, type RegisteredClient } from '../support/oauth-client.js';
import { startSmtp, type SmtpCatcher } from '../support/smtp.js';
import { startUpstreamSetup, type UpstreamSetup } from '../support/upstream-setup.js';

const SUITE = 'sign-in';
const SERVER_NAME = 'browser.test';
const PROVIDER_ID = '01JDB0000000000000000000BR';
const STRONG = 'Correct-Horse-Battery-Staple-9';
const DEVICE = 'BROWSERDEVICE';

let browser: Browser;
let setup: UpstreamSetup;
let smtp: SmtpCatcher;
let client: RegisteredClient;
let app: Server;
let base: string;

/** The app's redirect target: a page on loopback, as a native app's would be. */
async function startApp(): Promise<{ server: Server; url: string }> {
  const server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end('<!DOCTYPE html><html lang="en"><title>App</title><h1>Back in the app</h1></html>');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/cb` };
}

before(async () => {
  smtp = await startSmtp();
  const started = await startApp();
  app = started.server;
  setup = await startUpstreamSetup({
    serverName: SERVER_NAME,
    providerId: PROVIDER_ID,
    accounts: [{ sub: 'kc-uma', password: 'uma-upstream-1', preferred_username: 'uma', email: 'uma@browser.test', email_verified: true, name: 'Uma Upstream' }],
    extra: {
      branding: { service_name: 'Browser Test Service', tos_uri: 'https://browser.test/terms', policy_uri: 'https://browser.test/privacy' },
      account: { password_registration_enabled: true, password_registration_email_required: true, password_recovery_enabled: true },
      email: { transport: 'smtp', mode: 'plain', hostname: '127.0.0.1', port: smtp.port, from: 'accounts@browser.test' },
      rate_limiting: {
        login: { per_ip: { burst: 1000, per_second: 100 }, per_account: { burst: 1000, per_second: 100 } },
        username_availability: { burst: 1000, per_second: 100 },
        registration: { burst: 1000, per_second: 100 },
      },
    },
  });
  base = setup.mauth.url;
  const [made, launched, registered] = await Promise.all([
    setup.mauth.cli('manage', 'register-user', 'alice', '--password', 'alice-Browser-pw-1', '--email', 'alice@browser.test', '--yes'),
    launchChromium(),
    registerNativeClient(setup.mauth.url, started.url),
  ]);
  assert.equal(made.code, 0, made.stderr);
  browser = launched;
  client = registered;
});

after(async () => {
  await browser?.close();
  await setup?.stop();
  await smtp?.stop();
  await new Promise((resolve) => app?.close(resolve));
});

function authorizeUrl(challenge: string): string {
  const query = new URLSearchParams({
    client_id: client.client_id,
    redirect_uri: client.redirect_uri,
    response_type: 'code',
    scope: `openid urn:matrix:client:api:* urn:matrix:client:device:${DEVICE}`,
    state: 'browser-state',
    code_challenge: challenge,
    code_challenge_method: 'S256',
  });
  return `${base}/authorize?${query}`;
}

async function open(t: TestContext, options: Parameters<typeof Tab.open>[3] = {}): Promise<Tab> {
  const tab = await Tab.open(browser, SUITE, t.name, options);
  t.after(() => tab.close());
  return tab;
}

/** The code the app received, exchanged at the token endpoint. */
async function exchange(tab: Tab, verifier: string): Promise<void> {
  await tab.page.waitForURL((url) => url.href.startsWith(client.redirect_uri));
  const back = new URL(tab.page.url());
  assert.equal(back.searchParams.get('state'), 'browser-state');
  const tokens = await tokenRequest(base, {
    grant_type: 'authorization_code',
    code: back.searchParams.get('code') ?? '',
    redirect_uri: client.redirect_uri,
    client_id: client.client_id,
    code_verifier: verifier,
  });
  assert.equal(tokens.status, 200, JSON.stringify(tokens.body));
  assert.ok(tokens.body.access_token);
}

/** A stuck page fails its test instead of holding the suite. */
const LIMIT = { timeout: 120_000 };

describe('in Chromium', () => {
  test('an app signs a user in: login, consent, and a code the token endpoint accepts; then a device is linked', LIMIT, async (t) => {
    const tab = await open(t);
    const { page } = tab;
    const { verifier, challenge } = pkce();
    await page.goto(authorizeUrl(challenge));
    await page.getByRole('heading', { name: 'Sign in' }).waitFor();
    await tab.step('login');
    await tab.axe();

    // Keyboard users see where they are.
    await page.keyboard.press('Tab');
    const focus = await page.evaluate(() => {
      const el = document.activeElement as HTMLElement;
      const style = getComputedStyle(el);
      return { tag: el.tagName, outline: style.outlineStyle, width: parseFloat(style.outlineWidth) };
    });
    assert.notEqual(focus.outline, 'none', `focus is visible on ${focus.tag}`);
    assert.ok(focus.width >= 2, `focus outline of ${focus.width} px`);

    await page.getByLabel('Username').fill('alice');
    await page.getByLabel('Password').fill('wrong password');
    await page.getByRole('button', { name: 'Continue' }).click();
    await page.getByRole('alert').filter({ hasText: 'Invalid username or password.' }).waitFor();
    assert.equal(await page.getByLabel('Username').getAttribute('aria-describedby'), 'login-error', 'the error is tied to the fields');
    await tab.step('login, wrong password');

    await page.getByLabel('Password').fill('alice-Browser-pw-1');
    await page.getByRole('button', { name: 'Continue' }).click();
    await page.getByRole('heading', { name: /wants to access your account/ }).waitFor();
    await tab.step('consent');
    await tab.axe();
    await page.getByRole('button', { name: 'Allow' }).click();
    await exchange(tab, verifier);

    // Signed in now, the user links a TV-style device by typing the code it shows.
    const registered = await registerClient(base, { client_name: 'Browser TV', client_uri: 'https://tv.browser.test/', application_type: 'native', token_endpoint_auth_method: 'none', grant_types: ['urn:ietf:params:oauth:grant-type:device_code'], response_types: [] });
    const started = await fetch(`${base}/oauth2/device`, { method: 'POST', body: new URLSearchParams({ client_id: ((await registered.json()) as { client_id: string }).client_id, scope: `openid urn:matrix:client:api:* urn:matrix:client:device:${DEVICE}` }) });
    const { user_code: userCode } = (await started.json()) as { user_code: string };
    await page.goto(`${base}/link`);
    await tab.step('link a device');
    await tab.axe();
    await page.getByLabel('Code').fill(userCode);
    await page.getByRole('button', { name: 'Continue' }).click();
    await page.getByRole('heading', { name: 'Allow Browser TV on a new device?' }).waitFor();
    await tab.step('device consent');
    await tab.axe();
    await page.getByRole('checkbox').check();
    await page.getByRole('button', { name: 'Allow' }).click();
    await page.getByRole('heading', { name: 'Device allowed' }).waitFor();
    await tab.step('device allowed');
  });

  test('a visitor registers with the code mailed to them', LIMIT, async (t) => {
    const tab = await open(t);
    const { page } = tab;
    await page.goto(`${base}/register`);
    await tab.step('registration form');
    await tab.axe();

    await page.getByLabel('Username').fill('newcomer');
    await page.getByLabel('E-mail').fill('newcomer@browser.test');
    await page.getByLabel('Password', { exact: true }).fill(STRONG);
    await page.getByLabel('Confirm password').fill(`${STRONG}-typo`);
    await page.getByRole('checkbox').check();
    await page.getByRole('button', { name: 'Continue' }).click();
    const confirm = page.getByLabel('Confirm password');
    await page.locator('#password_confirm-error').waitFor();
    assert.equal(await confirm.getAttribute('aria-invalid'), 'true');
    const described = await confirm.getAttribute('aria-describedby');
    assert.equal(await page.locator(`#${described}`).textContent(), 'The passwords do not match.');
    await tab.step('registration form, passwords differ');
    await tab.axe();

    await page.getByLabel('Password', { exact: true }).fill(STRONG);
    await confirm.fill(STRONG);
    await page.getByRole('checkbox').check();
    const sent = Date.now();
    await page.getByRole('button', { name: 'Continue' }).click();
    await page.getByRole('heading', { name: 'Check your e-mail' }).waitFor();
    await tab.step('e-mail code');
    const mail = await smtp.waitFor((m) => m.to.includes('newcomer@browser.test') && m.at.getTime() >= sent);
    const code = /\b(\d{6})\b/.exec(mail.text)![1]!;
    await page.getByLabel('Code').fill(code);
    await page.getByRole('button', { name: 'Continue' }).click();
    await page.getByRole('heading', { name: 'Choose a display name' }).waitFor();
    await tab.step('display name');
    await page.getByLabel('Display name').fill('New Comer');
    await page.getByRole('button', { name: 'Create account', exact: true }).click();
    await page.waitForURL(`${base}/account/`);
    assert.ok(setup.hs.calls.some((c) => c.path.endsWith('/provision_user') && JSON.stringify(c.body).includes('newcomer')), 'the homeserver heard of the account');
  });

  test('a user who forgot their password recovers the account with the mailed link', LIMIT, async (t) => {
    const tab = await open(t);
    const { page } = tab;
    await page.goto(`${base}/login`);
    await page.getByRole('link', { name: 'Forgot your password?' }).click();
    await page.getByRole('heading', { name: 'Forgot your password?' }).waitFor();
    await tab.step('recovery');
    const sent = Date.now();
    await page.getByLabel('E-mail').fill('alice@browser.test');
    await page.getByRole('button', { name: 'Send the link' }).click();
    await page.getByRole('heading', { name: 'Check your e-mail' }).waitFor();
    await tab.step('recovery link sent');
    const mail = await smtp.waitFor((m) => m.to.includes('alice@browser.test') && m.at.getTime() >= sent);
    await page.goto(/https?:\/\/\S+recover\/complete\?ticket=[\w-]+/.exec(mail.text)![0]);
    await tab.step('new password');
    await page.getByLabel('New password', { exact: true }).fill(STRONG);
    await page.getByLabel('Confirm the new password').fill(STRONG);
    await page.getByRole('button', { name: 'Change password' }).click();
    await page.getByRole('heading', { name: 'Password changed' }).waitFor();
    await tab.step('password changed');
  });

  test('a person new here registers through the upstream identity provider', LIMIT, async (t) => {
    const tab = await open(t);
    const { page } = tab;
    await page.goto(`${base}/login`);
    await tab.step('login with an identity provider');
    await page.getByRole('link', { name: /^Continue with / }).click();
    // The provider's own sign-in page (the test double's), then back to Mauth.
    await page.locator('input[name=username]').fill('uma');
    await page.locator('input[name=password]').fill('uma-upstream-1');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Create your account' }).waitFor();
    await tab.step('upstream registration');
    await tab.axe();
    await page.getByRole('button', { name: 'Create account' }).click();
    await page.waitForURL(`${base}/account/`);
  });

  test('in German and without JavaScript: login, consent and the code', LIMIT, async (t) => {
    const tab = await open(t, { locale: 'de-DE', javaScriptEnabled: false });
    const { page } = tab;
    const { verifier, challenge } = pkce();
    await page.goto(authorizeUrl(challenge));
    assert.equal(await page.getAttribute('html', 'lang'), 'de');
    await page.getByRole('heading', { name: 'Anmelden' }).waitFor();
    await tab.step('Anmeldung');
    await page.getByLabel('Benutzername').fill('alice');
    await page.getByLabel('Passwort').fill(STRONG);
    await page.getByRole('button', { name: 'Weiter' }).click();
    await page.getByRole('heading', { name: /möchte auf dein Konto zugreifen/ }).waitFor();
    await page.getByText(`Sich als neues Gerät anmelden (${DEVICE})`).waitFor();
    await tab.step('Zustimmung');
    await page.getByRole('button', { name: 'Erlauben' }).click();
    await exchange(tab, verifier);
  });
});
