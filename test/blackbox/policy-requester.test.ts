// Black box: `requester.banned_ips` and `requester.banned_user_agents` in the policy data stop a
// banned requester at registration, at the consent of an authorization, at client_credentials,
// at compat login (password and the m.login.sso page) and at client registration; anyone else
// goes through. The requester's address comes through X-Forwarded-For from a trusted proxy.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { parseForms } from '../support/http-client.js';
import type { InProcessMauth } from '../support/mauth-inprocess.js';
import { authorize, registerClient, registerNativeClient } from '../support/oauth-client.js';
import { PolicyBrowser, compatPasswordLogin, signIn, startCompatSso } from '../support/policy-clients.js';
import { ADMIN_CLIENT, AdminApi, STRONG_PASSWORD, adminToken, startAdminMauth, startHomeserver, type SharedHomeserver } from '../admin/support.js';

let hs: SharedHomeserver;
let mauth: InProcessMauth;

const BANNED_IP = '203.0.113.9';
const OK_IP = '198.51.100.4';
const BANNED_AGENT = 'Mozilla/5.0 (compatible; BadBot/2.1)';

before(async () => {
  hs = await startHomeserver('requester.test');
  mauth = await startAdminMauth(hs, {
    account: { password_registration_enabled: true, password_registration_email_required: false },
    policy: { data: { admin_clients: [ADMIN_CLIENT.id], requester: { banned_ips: ['203.0.113.0/24', '2001:db8::/32'], banned_user_agents: { substrings: ['BadBot'] } } } },
  });
  const api = new AdminApi(mauth.url, await adminToken(mauth.url));
  const created = await api.post('/users', { username: 'alice' });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  assert.equal((await api.post(`/users/${created.body.data.id}/set-password`, { password: STRONG_PASSWORD })).status, 204);
});

after(async () => {
  await mauth?.stop();
  await mauth?.drop();
  await hs?.stop();
});

async function register(browser: PolicyBrowser, username: string) {
  const form = parseForms(await (await browser.get('/register')).text())[0];
  const res = await browser.postForm(form.action, { ...form.fields, username, email: '', password: STRONG_PASSWORD, password_confirm: STRONG_PASSWORD });
  return { status: res.status, text: await res.text() };
}

test('registration is refused from a banned address or user agent, and allowed otherwise', async () => {
  for (const identity of [{ ip: BANNED_IP }, { ip: '2001:db8::5' }, { ip: OK_IP, userAgent: BANNED_AGENT }]) {
    const refused = await register(new PolicyBrowser(mauth.url, identity), 'newcomer');
    assert.equal(refused.status, 400, JSON.stringify(identity));
    assert.match(refused.text, /not allowed from your network/);
  }
  assert.equal((await register(new PolicyBrowser(mauth.url, { ip: OK_IP }), 'newcomer')).status, 303);
});

test('compat password login is refused with 403 M_FORBIDDEN for a banned requester, before any device is made', async () => {
  const devicesBefore = hs.devices('alice').size;
  for (const headers of [{ 'x-forwarded-for': BANNED_IP }, { 'user-agent': BANNED_AGENT }] as Record<string, string>[]) {
    const refused = await compatPasswordLogin(mauth.url, 'alice', STRONG_PASSWORD, {}, headers);
    assert.equal(refused.status, 403, JSON.stringify(headers));
    assert.equal(refused.body.errcode, 'M_FORBIDDEN');
    assert.equal(refused.body.access_token, undefined);
  }
  assert.equal(hs.devices('alice').size, devicesBefore);
  const allowed = await compatPasswordLogin(mauth.url, 'alice', STRONG_PASSWORD, {}, { 'x-forwarded-for': OK_IP });
  assert.equal(allowed.status, 200, JSON.stringify(allowed.body));
});

test('dynamic client registration is refused for a banned requester', async () => {
  const metadata = { application_type: 'native', client_uri: 'https://app.example.org/', redirect_uris: ['http://127.0.0.1/cb'], token_endpoint_auth_method: 'none' };
  const refused = await fetch(`${mauth.url}/oauth2/registration`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'user-agent': BANNED_AGENT },
    body: JSON.stringify(metadata),
  });
  assert.equal(refused.status, 400);
  const body = (await refused.json()) as { error: string; error_description: string };
  assert.equal(body.error, 'invalid_client_metadata');
  assert.match(body.error_description, /isn't allowed/);
  assert.equal((await registerClient(mauth.url, metadata)).status, 201);
});

test('an authorization from a banned browser stops at the policy page and ends with access_denied', async () => {
  const client = await registerNativeClient(mauth.url);
  const scope = 'openid urn:matrix:client:api:* urn:matrix:client:device:REQUESTER01';
  const banned = await authorize(new PolicyBrowser(mauth.url, { ip: BANNED_IP }), { client, scope, username: 'alice', password: STRONG_PASSWORD });
  assert.equal(banned.params.get('error'), 'access_denied');
  assert.equal(banned.params.get('code'), null);
  const policyPage = banned.pages.find((page) => /This sign-in is not allowed/.test(page));
  assert.ok(policyPage, 'the policy page was shown');
  assert.doesNotMatch(policyPage, /value="allow"/, 'no way to allow');
  const allowed = await authorize(new PolicyBrowser(mauth.url, { ip: OK_IP }), { client, scope, username: 'alice', password: STRONG_PASSWORD });
  assert.ok(allowed.params.get('code'));
});

test('the m.login.sso page refuses a banned browser with 403 and hands out no login token', async () => {
  const browser = new PolicyBrowser(mauth.url, { userAgent: BANNED_AGENT });
  const page = await startCompatSso(browser);
  await signIn(browser, 'alice', STRONG_PASSWORD);
  const shown = await browser.get(page);
  assert.equal(shown.status, 403);
  assert.match(await shown.text(), /This sign-in is not allowed/);
  // This browser's CSRF token, from any of its forms.
  const form = parseForms(await (await browser.get('/register')).text())[0];
  const sent = await browser.postForm(page, { csrf: form.fields.csrf, decision: 'continue' });
  assert.equal(sent.status, 403);
  assert.equal(sent.headers.get('location'), null, 'no redirect carrying a login token');
});

test('client_credentials is refused for a banned requester, even for an admin client', async () => {
  const token = (headers: Record<string, string>) =>
    fetch(`${mauth.url}/oauth2/token`, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        authorization: `Basic ${Buffer.from(`${ADMIN_CLIENT.id}:${ADMIN_CLIENT.secret}`).toString('base64')}`,
        ...headers,
      },
      body: new URLSearchParams({ grant_type: 'client_credentials', scope: 'urn:mas:admin' }).toString(),
    });
  const refused = await token({ 'x-forwarded-for': BANNED_IP });
  assert.equal(refused.status, 400);
  assert.match(((await refused.json()) as { error_description: string }).error_description, /isn't allowed/);
  assert.equal((await token({ 'x-forwarded-for': OK_IP })).status, 200);
});
