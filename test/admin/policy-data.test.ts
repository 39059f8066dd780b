// Black box: policy data set through the admin API of one instance applies on another instance
// sharing the database, without a restart, merged over each one's `policy.data` (MAS's dynamic
// policy data). Both run in this process, each on its own clock: the second one's view is
// refreshed by moving its clock past the refresh time rather than by waiting.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { REFRESH_SECONDS } from '../../src/policy/dynamic-data.js';
import { OAuth2, discover } from '../support/device-grant-client.js';
import { Browser, location, parseForms } from '../support/http-client.js';
import type { InProcessMauth } from '../support/mauth-inprocess.js';
import { ADMIN_CLIENT, AdminApi, OTHER_CLIENT, STRONG_PASSWORD, adminToken, errorTitle, startAdminMauth, startHomeserver, type SharedHomeserver } from './support.js';

let hs: SharedHomeserver;
let first: InProcessMauth;
let second: InProcessMauth;

const settings = {
  account: { password_registration_enabled: true, password_registration_email_required: false },
  policy: { data: { admin_clients: [ADMIN_CLIENT.id], admin_users: ['dana'], registration: { banned_usernames: { literals: ['rootbeer'] } } } },
};

before(async () => {
  hs = await startHomeserver('policy.test');
  first = await startAdminMauth(hs, settings);
  second = await startAdminMauth(hs, settings, { databaseUrl: first.databaseUrl });
});

after(async () => {
  await second?.stop();
  await first?.stop();
  await second?.drop();
  await first?.drop();
  await hs?.stop();
});

/** The first registration step: 303 when the username passes, 400 with the reason when not. */
async function tryRegister(instance: InProcessMauth, username: string): Promise<{ status: number; text: string }> {
  const browser = new Browser(instance.url);
  const form = parseForms(await (await browser.get('/register')).text())[0];
  const res = await browser.postForm(form.action, { ...form.fields, username, email: '', password: STRONG_PASSWORD, password_confirm: STRONG_PASSWORD });
  return { status: res.status, text: await res.text() };
}

test('policy data set on one instance refuses a username at registration on another, without a restart', async () => {
  assert.equal((await tryRegister(second, 'mallory1')).status, 303, 'allowed before');
  assert.equal((await tryRegister(second, 'rootbeer')).status, 400, 'the configuration bans this one');

  const api = new AdminApi(first.url, await adminToken(first.url));
  const set = await api.post('/policy-data', { data: { registration: { banned_usernames: { substrings: ['mallory'] } } } });
  assert.equal(set.status, 201, JSON.stringify(set.body));
  assert.equal(set.body.data.type, 'policy-data');

  const here = await tryRegister(first, 'mallory2');
  assert.equal(here.status, 400, 'at once on the instance that set it');
  assert.match(here.text, /not allowed/);

  await second.advance(REFRESH_SECONDS);
  const there = await tryRegister(second, 'mallory3');
  assert.equal(there.status, 400, 'on the other instance after its refresh time');
  assert.match(there.text, /not allowed/);
  assert.equal((await tryRegister(second, 'rootbeer')).status, 400, 'merged over the configuration, which still applies');
  assert.equal((await tryRegister(second, 'alice')).status, 303);

  const secondApi = new AdminApi(second.url, await adminToken(second.url));
  const latest = await secondApi.get('/policy-data/latest');
  assert.equal(latest.status, 200);
  assert.equal(latest.body.data.id, set.body.data.id);
  assert.deepEqual((await secondApi.get(`/policy-data/${set.body.data.id}`)).body.data.attributes.data, { registration: { banned_usernames: { substrings: ['mallory'] } } });
});

test('admin_clients set at run time lets another client get urn:mas:admin', async () => {
  const api = new AdminApi(first.url, await adminToken(first.url));
  const token = () =>
    fetch(`${second.url}/oauth2/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'client_credentials', scope: 'urn:mas:admin', client_id: OTHER_CLIENT.id, client_secret: OTHER_CLIENT.secret }).toString(),
    });
  assert.equal((await token()).status, 400);
  assert.equal((await api.post('/policy-data', { data: { admin_clients: [OTHER_CLIENT.id] } })).status, 201);
  await second.advance(REFRESH_SECONDS);
  const res = await token();
  assert.equal(res.status, 200);
  const { access_token: accessToken } = (await res.json()) as { access_token: string };
  assert.equal((await new AdminApi(second.url, accessToken).get('/version')).status, 200);
});

test('data that cannot merge with the configuration is refused and changes nothing', async () => {
  const api = new AdminApi(first.url, await adminToken(first.url));
  const before = (await api.get('/policy-data/latest')).body.data.id;
  const refused = await api.post('/policy-data', { data: { registration: 'everyone' } });
  assert.equal(refused.status, 400);
  assert.match(errorTitle(refused), /cannot merge/);
  assert.equal((await api.get('/policy-data/latest')).body.data.id, before);
  assert.equal((await api.get('/policy-data/01ARZ3NDEKTSV4RRFFQ69G5FAV')).status, 404);
});

/** A person approving a device sign-in on /link as `username`: 200 approved, 403 refused. */
async function approveDevice(instance: InProcessMauth, userCode: string, username: string): Promise<number> {
  const browser = new Browser(instance.url);
  const linkForm = parseForms(await (await browser.get('/link')).text()).find((f) => f.action === '/link');
  assert.ok(linkForm, 'the /link form');
  const consentPath = location(await browser.postForm('/link', { ...linkForm.fields, code: userCode }));
  const login = location(await browser.get(consentPath));
  const form = parseForms(await (await browser.get(login)).text()).find((f) => 'password' in f.fields);
  assert.ok(form, 'a login form');
  assert.equal(location(await browser.postForm(form.action, { ...form.fields, username, password: STRONG_PASSWORD })), consentPath);
  const consent = parseForms(await (await browser.get(consentPath)).text()).find((f) => f.action === consentPath);
  assert.ok(consent, 'a consent form');
  const res = await browser.postForm(consentPath, { csrf: consent.fields.csrf, action: 'consent', confirm_device: 'on' });
  return res.status;
}

test('admin_users set or cleared at run time also decide who approves urn:mas:admin for a device', async () => {
  const api = new AdminApi(first.url, await adminToken(first.url));
  for (const username of ['dana', 'erin']) {
    const created = await api.post('/users', { username });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.equal((await api.post(`/users/${created.body.data.id}/set-password`, { password: STRONG_PASSWORD })).status, 204);
  }
  const metadata = await discover(`${first.url}/`);
  const clientId = await OAuth2.registerClient(metadata, { client_name: 'TV', client_uri: 'https://tv.example.org/', application_type: 'native', redirect_uris: ['org.example.tv:/callback'] });
  const ask = () => new OAuth2(metadata, clientId, 'TVDEVICE01', { wait: async () => {} }).startDeviceAuthorizationGrant('openid urn:mas:admin');

  // dana is an admin user by the configuration only; the data set through the API clears the list.
  assert.equal((await api.post('/policy-data', { data: { admin_users: null } })).status, 201);
  assert.equal(await approveDevice(first, (await ask()).user_code, 'dana'), 403, 'dana is no admin user any more');

  assert.equal((await api.post('/policy-data', { data: { admin_users: ['erin'] } })).status, 201);
  assert.equal(await approveDevice(first, (await ask()).user_code, 'erin'), 200, 'erin is an admin user now');
});
