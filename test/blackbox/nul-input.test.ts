// Black box: a NUL character (which PostgreSQL refuses in text) in any part of a page's address or
// form is answered with a 4xx page, never a 500, whether signed in or not.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { signIn } from '../support/account.js';
import { startInProcessSetup, type Setup } from '../support/homeserver-setup.js';
import { Browser } from '../support/http-client.js';
import type { InProcessMauth } from '../support/mauth-inprocess.js';

const PASSWORD = 'Nul-Input-Password-7!';
let setup: Setup<InProcessMauth>;

before(async () => {
  setup = await startInProcessSetup({
    serverName: 'nul.test',
    extra: {
      account: { password_registration_enabled: true, password_registration_email_required: false, password_recovery_enabled: true },
      email: { transport: 'blackhole' },
    },
    users: [{ name: 'nul', password: PASSWORD }],
  });
});

after(() => setup?.stop());

const GETS = [
  '/device/%00',
  '/link?code=%00',
  '/complete-compat-sso/%00',
  '/interaction/%00',
  '/register/steps/%00/token',
  '/register/steps/%00/verify-email',
  '/register/steps/%00/display-name',
  '/recover/complete?ticket=%00',
  '/upstream/callback/%00?state=%00&code=%00',
  '/upstream/verify-email/%00',
  '/login?next=%2F%00',
  '/account/sessions/oauth2/%00',
  '/account/emails/verify/%00',
];

test('a NUL in an address is a 4xx page, signed out and signed in', async () => {
  for (const browser of [new Browser(setup.mauth.url), await signIn(setup.mauth.url, 'nul', PASSWORD)]) {
    for (const path of GETS) {
      const res = await browser.get(path);
      await res.arrayBuffer();
      assert.ok(res.status < 500, `${path} answered ${res.status}`);
    }
  }
});

test('a NUL in a form field is a 4xx page, never a 500', async () => {
  const forms: [string, Record<string, string>][] = [
    ['/login', { username: 'nul\0', password: PASSWORD }],
    ['/register', { username: 'a\0b', password: PASSWORD, password_confirm: PASSWORD }],
    ['/recover', { email: 'a\0@b.test' }],
    ['/link', { code: 'AB\0CD' }],
  ];
  for (const [path, fields] of forms) {
    const browser = new Browser(setup.mauth.url);
    const page = await browser.get(path);
    const html = await page.text();
    const csrf = /name="csrf" value="([^"]+)"/.exec(html)?.[1] ?? '';
    const res = await browser.postForm(path, { csrf, ...fields });
    await res.arrayBuffer();
    assert.ok(res.status < 500, `POST ${path} answered ${res.status}`);
  }
  assert.doesNotMatch(setup.mauth.output(), /"level":50/, 'an error was logged');
});

test('a NUL in a legacy login is a Matrix 4xx, never a 500', async () => {
  for (const body of [
    { type: 'm.login.password', identifier: { type: 'm.id.user', user: 'nul\u0000' }, password: PASSWORD },
    { type: 'm.login.password', identifier: { type: 'm.id.thirdparty', medium: 'email', address: 'a\u0000@b.test' }, password: PASSWORD },
    { type: 'm.login.token', token: 'abc\u0000' },
    { type: 'm.login.password', identifier: { type: 'm.id.user', user: 'nul' }, password: PASSWORD, device_id: 'DEV\u0000' },
  ]) {
    const res = await fetch(`${setup.mauth.url}/_matrix/client/v3/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    const answer = (await res.json()) as { errcode?: string };
    assert.ok(res.status >= 400 && res.status < 500, `${JSON.stringify(body)} answered ${res.status}`);
    assert.equal(typeof answer.errcode, 'string');
  }
});
