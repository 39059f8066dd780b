// Black box: every browser form refuses a POST that does not carry its page's CSRF token (another
// site posting, or an expired cookie) with the one "form expired" page, before anything is done.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';
import { startHomeserverDouble, type HomeserverDouble } from '../support/homeserver-double.js';
import { Browser, parseForms } from '../support/http-client.js';
import { createMauth, type MauthInstance } from '../support/mauth-process.js';

let hs: HomeserverDouble;
let mauth: MauthInstance;

before(async () => {
  const secret = randomBytes(16).toString('hex');
  hs = await startHomeserverDouble({ secret, serverName: 'csrf.test' });
  mauth = await createMauth({
    homeserverUrl: hs.url,
    serverName: 'csrf.test',
    secret,
    extra: {
      account: { password_registration_enabled: true, password_registration_email_required: false, password_recovery_enabled: true },
      email: { transport: 'smtp', mode: 'plain', hostname: '127.0.0.1', port: 2 },
    },
  });
  await mauth.start();
});

after(async () => {
  await mauth?.stop();
  await mauth?.drop();
  await hs?.stop();
});

const FORMS = [
  '/login',
  '/logout',
  '/account/profile',
  '/account/sessions/end',
  '/account/sessions/rename',
  '/account/emails',
  '/account/emails/remove',
  '/account/password',
  '/account/cross-signing',
  '/account/deactivate',
  '/account/emails/verify/01JD0000000000000000000000',
  '/register',
  '/register/steps/unknown/token',
  '/register/steps/unknown/verify-email',
  '/register/steps/unknown/display-name',
  '/recover',
  '/recover/complete',
  '/complete-compat-sso/01JD0000000000000000000000',
  '/interaction/unknown/login',
  '/interaction/unknown/abort',
  '/interaction/unknown/consent',
  '/upstream/link/unknown',
  '/upstream/verify-email/unknown',
  '/link',
  '/device/01JD0000000000000000000000',
];

test('every form refuses a POST without its CSRF token', async () => {
  for (const path of FORMS) {
    const res = await fetch(`${mauth.url}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', origin: 'https://evil.example' },
      body: new URLSearchParams({ username: 'alice', password: 'hunter2hunter2', email: 'a@b.test' }),
      redirect: 'manual',
    });
    assert.equal(res.status, 403, `${path} answered ${res.status}`);
    assert.match(await res.text(), /The form expired/, path);
  }
  assert.equal(hs.calls.length, 0, 'nothing reached the homeserver');
});

test('a form posted with its page token passes the check', async () => {
  const browser = new Browser(mauth.url);
  const page = await browser.get('/login');
  const form = parseForms(await page.text()).find((f) => f.action.startsWith('/login'));
  assert.ok(form?.fields.csrf, 'the login page carries a CSRF token');
  const res = await browser.postForm(form.action, { ...form.fields, username: 'nobody', password: 'wrong-password-1' });
  // The password is wrong: the login form answers that, not the CSRF check.
  const html = await res.text();
  assert.doesNotMatch(html, /The form expired/);
  assert.match(html, /password/i);
});
