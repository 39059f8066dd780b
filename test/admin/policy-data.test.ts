// Black box: policy data set through the admin API of one instance applies on another instance
// sharing the database, without a restart, merged over each one's `policy.data` (MAS's dynamic
// policy data). Both run in this process, each on its own clock: the second one's view is
// refreshed by moving its clock past the refresh time rather than by waiting.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { REFRESH_SECONDS } from '../../src/policy/dynamic-data.js';
import { Browser, parseForms } from '../support/http-client.js';
import type { InProcessMauth } from '../support/mauth-inprocess.js';
import { ADMIN_CLIENT, AdminApi, OTHER_CLIENT, STRONG_PASSWORD, adminToken, errorTitle, startAdminMauth, startHomeserver, type SharedHomeserver } from './support.js';

let hs: SharedHomeserver;
let first: InProcessMauth;
let second: InProcessMauth;

const settings = {
  account: { password_registration_enabled: true, password_registration_email_required: false },
  policy: { data: { admin_clients: [ADMIN_CLIENT.id], registration: { banned_usernames: { literals: ['rootbeer'] } } } },
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
