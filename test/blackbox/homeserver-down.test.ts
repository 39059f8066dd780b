// Black box: the homeserver is down (its double stopped, so its port is closed). Every endpoint
// that needs it answers "try again" in its own protocol: 503 with Retry-After and a message
// naming the homeserver, never a 500 "internal error".
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Browser, parseForms } from '../support/http-client.js';
import { startSetup, type Setup } from '../support/homeserver-setup.js';
import type { MauthInstance } from '../support/mauth-process.js';
import { authorize, registerNativeClient, tokenRequest } from '../support/oauth-client.js';

const SERVER_NAME = 'hs-down.test';
const PASSWORD = 'Plenty-Of-Entropy-Here-42!';

let setup: Setup<MauthInstance>;
let mauth: MauthInstance;

before(async () => {
  setup = await startSetup({
    serverName: SERVER_NAME,
    extra: { account: { password_registration_enabled: true, password_registration_email_required: false } },
    users: [{ name: 'alice', password: PASSWORD }],
    // Mauth starts while the homeserver is already down.
    beforeStart: ({ hs }) => hs.stop(),
  });
  ({ mauth } = setup);
});

after(() => setup?.stop());

function assertRetryAfter(headers: Headers) {
  const retry = Number(headers.get('retry-after'));
  assert.ok(Number.isInteger(retry) && retry > 0, `Retry-After: ${headers.get('retry-after')}`);
}

test('compat password login: 503 M_UNKNOWN naming the homeserver, with Retry-After', async () => {
  const res = await fetch(`${mauth.url}/_matrix/client/v3/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ type: 'm.login.password', identifier: { type: 'm.id.user', user: 'alice' }, password: PASSWORD }),
  });
  const body = (await res.json()) as { errcode: string; error: string };
  assert.equal(res.status, 503, JSON.stringify(body));
  assert.equal(body.errcode, 'M_UNKNOWN');
  assert.equal(body.error, 'the homeserver could not be reached; try again');
  assertRetryAfter(res.headers);
});

test('token endpoint: 503 temporarily_unavailable naming the homeserver, with Retry-After', async () => {
  const client = await registerNativeClient(mauth.url);
  const browser = new Browser(mauth.url);
  const { params, verifier } = await authorize(browser, {
    client,
    scope: 'openid urn:matrix:client:api:* urn:matrix:client:device:HSDOWNDEV1',
    username: 'alice',
    password: PASSWORD,
  });
  const res = await fetch(`${mauth.url}/oauth2/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'authorization_code', code: params.get('code')!, redirect_uri: client.redirect_uri, client_id: client.client_id, code_verifier: verifier }),
  });
  const body = (await res.json()) as { error: string; error_description: string };
  assert.equal(res.status, 503, JSON.stringify(body));
  assert.equal(body.error, 'temporarily_unavailable');
  assert.match(body.error_description, /homeserver could not be reached/);
  assertRetryAfter(res.headers);
  // The tokens were withdrawn with the answer: the code cannot be exchanged a second time.
  const again = await tokenRequest(mauth.url, { grant_type: 'authorization_code', code: params.get('code')!, redirect_uri: client.redirect_uri, client_id: client.client_id, code_verifier: verifier });
  assert.notEqual(again.status, 200);
});

test('registration: the username check answers a 503 page that says the homeserver could not be reached', async () => {
  const browser = new Browser(mauth.url);
  const page = await browser.get('/register');
  const form = parseForms(await page.text()).find((f) => f.action.startsWith('/register'));
  assert.ok(form, 'the registration form');
  const res = await browser.postForm(form.action, { ...form.fields, username: 'newcomer', email: '', password: PASSWORD, password_confirm: PASSWORD });
  const html = await res.text();
  assert.equal(res.status, 503, html.slice(0, 400));
  assert.match(res.headers.get('content-type') ?? '', /text\/html/);
  assertRetryAfter(res.headers);
  assert.match(html, /The homeserver could not be reached\. Try again in a moment\./);
  assert.match(html, /value="newcomer"/, 'the form keeps what was typed');
});
