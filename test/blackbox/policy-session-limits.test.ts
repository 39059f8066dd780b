// Black box: `experimental.session_limit`. Legacy logins without a page (m.login.password) are
// refused at the hard limit with 403 M_FORBIDDEN, unless they replace the session on their own
// device; the browser steps (the m.login.sso page, the consent of an authorization) stop at the
// soft limit with a page saying how many sessions to sign out of, and go on once the user has.
// With dangerous_hard_limit_eviction, the least recently used legacy session makes room instead.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { InProcessMauth } from '../support/mauth-inprocess.js';
import { authorize, registerNativeClient } from '../support/oauth-client.js';
import { PolicyBrowser, compatPasswordLogin, signIn, startCompatSso } from '../support/policy-clients.js';
import { AdminApi, STRONG_PASSWORD, adminToken, startAdminMauth, startHomeserver, type SharedHomeserver } from '../admin/support.js';

async function createUser(mauth: InProcessMauth, username: string): Promise<void> {
  const api = new AdminApi(mauth.url, await adminToken(mauth.url));
  const created = await api.post('/users', { username });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  assert.equal((await api.post(`/users/${created.body.data.id}/set-password`, { password: STRONG_PASSWORD })).status, 204);
}

async function logout(mauth: InProcessMauth, token: string): Promise<number> {
  const res = await fetch(`${mauth.url}/_matrix/client/v3/logout`, { method: 'POST', headers: { authorization: `Bearer ${token}` } });
  return res.status;
}

async function loginOk(mauth: InProcessMauth, username: string, extra: Record<string, unknown> = {}) {
  const answer = await compatPasswordLogin(mauth.url, username, STRONG_PASSWORD, extra);
  assert.equal(answer.status, 200, JSON.stringify(answer.body));
  return answer.body as { access_token: string; device_id: string };
}

describe('soft limit 2, hard limit 3', () => {
  let hs: SharedHomeserver;
  let mauth: InProcessMauth;

  before(async () => {
    hs = await startHomeserver('limits.test');
    mauth = await startAdminMauth(hs, { experimental: { session_limit: { soft_limit: 2, hard_limit: 3 } } });
    for (const name of ['bob', 'carol', 'erin']) await createUser(mauth, name);
  });

  after(async () => {
    await mauth?.stop();
    await mauth?.drop();
    await hs?.stop();
  });

  test('m.login.password is refused at the hard limit, except on the device of a live session, and allowed again after a logout', async () => {
    const sessions = [await loginOk(mauth, 'bob'), await loginOk(mauth, 'bob'), await loginOk(mauth, 'bob')];
    const refused = await compatPasswordLogin(mauth.url, 'bob', STRONG_PASSWORD);
    assert.equal(refused.status, 403);
    assert.equal(refused.body.errcode, 'M_FORBIDDEN');
    assert.match(refused.body.error, /maximum number of sessions/);
    assert.equal(hs.devices('bob').size, 3, 'no device was made for the refused login');

    const replaced = await loginOk(mauth, 'bob', { device_id: sessions[0].device_id });
    assert.equal(replaced.device_id, sessions[0].device_id, 'a login that replaces its device adds no session');

    assert.equal(await logout(mauth, sessions[1].access_token), 200);
    await loginOk(mauth, 'bob');
  });

  test('the m.login.sso page stops at the soft limit (403), saying how many sessions to sign out of', async () => {
    const first = await loginOk(mauth, 'erin');
    await loginOk(mauth, 'erin');
    await loginOk(mauth, 'erin');
    const browser = new PolicyBrowser(mauth.url);
    const page = await startCompatSso(browser);
    await signIn(browser, 'erin', STRONG_PASSWORD);
    const stopped = await browser.get(page);
    assert.equal(stopped.status, 403);
    const html = await stopped.text();
    assert.match(html, /signed in on too many devices/);
    assert.match(html, /sign out of\s+2 other sessions/);
    assert.match(html, /href="\/account\/\?action=org\.matrix\.sessions_list"/);

    assert.equal(await logout(mauth, first.access_token), 200);
    const still = await browser.get(page);
    assert.equal(still.status, 403);
    assert.match(await still.text(), /sign out of\s+one other session/);
  });

  test('an authorization stops at the soft limit on the policy page, is cancelled from it, and goes through once sessions were ended', async () => {
    const sessions = [await loginOk(mauth, 'carol'), await loginOk(mauth, 'carol')];
    const client = await registerNativeClient(mauth.url);
    const scope = 'openid urn:matrix:client:api:* urn:matrix:client:device:LIMITDEV01';
    const stopped = await authorize(new PolicyBrowser(mauth.url), { client, scope, username: 'carol', password: STRONG_PASSWORD, decision: 'deny' });
    assert.equal(stopped.params.get('error'), 'access_denied');
    const page = stopped.pages.find((html) => /signed in on too many devices/.test(html));
    assert.ok(page, 'the too-many-sessions page was shown');
    assert.match(page, /sign out of\s+one other session/);
    assert.match(page, /value="deny"/, 'a way back to the app');
    assert.doesNotMatch(page, /value="allow"/);

    assert.equal(await logout(mauth, sessions[0].access_token), 200);
    const allowed = await authorize(new PolicyBrowser(mauth.url), { client, scope, username: 'carol', password: STRONG_PASSWORD });
    assert.ok(allowed.params.get('code'), 'one session left: below the soft limit');
  });
});

describe('dangerous_hard_limit_eviction', () => {
  let hs: SharedHomeserver;
  let mauth: InProcessMauth;

  before(async () => {
    hs = await startHomeserver('evict.test');
    mauth = await startAdminMauth(hs, { experimental: { session_limit: { soft_limit: 2, hard_limit: 2, dangerous_hard_limit_eviction: true } } });
    await createUser(mauth, 'dave');
  });

  after(async () => {
    await mauth?.stop();
    await mauth?.drop();
    await hs?.stop();
  });

  test('at the hard limit the least recently used legacy session is ended to make room, and its device deleted', async () => {
    const oldest = await loginOk(mauth, 'dave');
    const newer = await loginOk(mauth, 'dave');
    const third = await loginOk(mauth, 'dave');
    assert.equal(await logout(mauth, oldest.access_token), 401, 'the oldest session was ended');
    await hs.waitFor((call) => call.path.endsWith('/delete_device') && (call.body as { device_id?: string })?.device_id === oldest.device_id);
    await mauth.jobsSettled();
    assert.deepEqual([...hs.devices('dave')].sort(), [newer.device_id, third.device_id].sort());
    assert.equal(await logout(mauth, newer.access_token), 200, 'the others keep working');
  });
});
