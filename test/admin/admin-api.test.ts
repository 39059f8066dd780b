// Black box: an operator's script drives the admin API with a client_credentials token of a
// static client listed in policy.data.admin_clients, and every change reaches the homeserver
// (double) and the protocols (introspection, compat login, registration) as the pages' would.
import assert from 'node:assert/strict';
import postgres from 'postgres';
import { after, before, describe, test } from 'node:test';
import { Browser, location, parseForms } from '../support/http-client.js';
import type { InProcessMauth } from '../support/mauth-inprocess.js';
import { authorize, introspect, registerNativeClient, tokenRequest } from '../support/oauth-client.js';
import { ADMIN_CLIENT, AdminApi, OTHER_CLIENT, STRONG_PASSWORD, adminToken, clientCredentials, compatLogin, errorTitle, startAdminMauth, startHomeserver, type SharedHomeserver } from './support.js';

let hs: SharedHomeserver;
let mauth: InProcessMauth;
let api: AdminApi;

before(async () => {
  hs = await startHomeserver('admin.test');
  mauth = await startAdminMauth(hs, {
    account: { password_registration_enabled: true, password_registration_email_required: false, registration_token_required: true },
  });
  api = new AdminApi(mauth.url, await adminToken(mauth.url));
});

after(async () => {
  await mauth?.stop();
  await mauth?.drop();
  await hs?.stop();
});

async function createUser(username: string, extra: Record<string, unknown> = {}): Promise<string> {
  const created = await api.post('/users', { username, ...extra });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  return created.body.data.id as string;
}

async function setPassword(id: string, password = STRONG_PASSWORD) {
  const set = await api.post(`/users/${id}/set-password`, { password });
  assert.equal(set.status, 204, JSON.stringify(set.body));
}

describe('client_credentials', () => {
  test('a static client in admin_clients gets a urn:mas:admin token and reaches the admin API', async () => {
    const { status, body } = await clientCredentials(mauth.url, ADMIN_CLIENT, 'urn:mas:admin');
    assert.equal(status, 200, JSON.stringify(body));
    assert.match(body.access_token, /^mat_[A-Za-z0-9]{30}_[A-Za-z0-9]{6}$/);
    assert.equal(body.scope, 'urn:mas:admin');
    assert.equal(body.refresh_token, undefined);
    const version = await new AdminApi(mauth.url, body.access_token).get('/version');
    assert.equal(version.status, 200);
    assert.equal(typeof version.body.version, 'string');
  });

  test('a static client not in admin_clients is refused the admin scope', async () => {
    const res = await fetch(`${mauth.url}/oauth2/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'client_credentials', scope: 'urn:mas:admin', client_id: OTHER_CLIENT.id, client_secret: OTHER_CLIENT.secret }).toString(),
    });
    const body = (await res.json()) as Record<string, string>;
    assert.equal(res.status, 400);
    assert.equal(body.error, 'invalid_scope');
    assert.equal(body.access_token, undefined);
  });

  test('a client_credentials token never carries the Matrix API or a device', async () => {
    const { status, body } = await clientCredentials(mauth.url, ADMIN_CLIENT, 'urn:mas:admin urn:matrix:client:api:*');
    assert.equal(status, 400, JSON.stringify(body));
    assert.equal(body.error, 'invalid_scope');
  });
});

describe('users', () => {
  test('creates 25 users and walks them with a search, in pages of 10, forwards and backwards', async () => {
    const created: string[] = [];
    for (let i = 0; i < 25; i += 1) created.push(await createUser(`walker${String(i).padStart(2, '0')}`));
    await createUser('bystander');
    assert.equal((await api.post('/users', { username: 'walker00' })).status, 409, 'an existing username');
    const invalid = await api.post('/users', { username: 'Not Valid!' });
    assert.equal(invalid.status, 400);
    assert.match(errorTitle(invalid), /not valid/);

    const forwards: string[] = [];
    let next: string | undefined = '/users?filter[search]=walker&page[first]=10';
    let pages = 0;
    while (next) {
      const page = await api.get(next.replace('/api/admin/v1', ''));
      assert.equal(page.status, 200, JSON.stringify(page.body));
      assert.equal(page.body.meta.count, 25);
      assert.ok(page.body.data.length <= 10);
      for (const item of page.body.data) {
        assert.equal(item.type, 'user');
        assert.match(item.attributes.username, /^walker/);
        assert.equal(item.meta.page.cursor, item.id);
        assert.equal(item.links.self, `/api/admin/v1/users/${item.id}`);
        forwards.push(item.id);
      }
      next = page.body.links.next;
      pages += 1;
    }
    assert.equal(pages, 3);
    assert.deepEqual(forwards, [...created].sort(), 'every user once, in id order');

    const backwards: string[] = [];
    let prev: string | undefined = '/users?filter[search]=walker&page[last]=10';
    while (prev) {
      const page = await api.get(prev.replace('/api/admin/v1', ''));
      assert.equal(page.status, 200, JSON.stringify(page.body));
      backwards.unshift(...page.body.data.map((item: { id: string }) => item.id));
      prev = page.body.links.prev;
    }
    assert.deepEqual(backwards, forwards, 'the same users walking back, no duplicates, no gaps');

    const countOnly = await api.get('/users?filter[search]=walker&count=only');
    assert.deepEqual(countOnly.body.meta, { count: 25 });
    assert.equal(countOnly.body.data, undefined);
    const byName = await api.get('/users/by-username/walker07');
    assert.equal(byName.status, 200);
    assert.equal(byName.body.data.id, created[7]);

    await mauth.jobsSettled();
    assert.ok(hs.users.has('walker24'), 'the homeserver was provisioned by the job');
  });

  test('sets a password, which then logs in through the compatibility API', async () => {
    const id = await createUser('passworded');
    const weak = await api.post(`/users/${id}/set-password`, { password: 'password' });
    assert.equal(weak.status, 400);
    assert.equal(errorTitle(weak), 'Password is too weak');
    await setPassword(id);
    const login = await compatLogin(mauth.url, 'passworded', STRONG_PASSWORD);
    assert.equal(login.status, 200, JSON.stringify(login.body));
    const skipped = await api.post(`/users/${id}/set-password`, { password: 'weak', skip_password_check: true });
    assert.equal(skipped.status, 204);
    assert.equal((await compatLogin(mauth.url, 'passworded', 'weak')).status, 200);
  });

  test('a directory account gets no local password: 409 naming the directory, and nothing is stored', async () => {
    const id = await createUser('fromdirectory');
    const db = postgres(mauth.databaseUrl, { max: 1, onnotice: () => {} });
    try {
      await db`UPDATE users SET password_source = 'directory' WHERE id = ${id}`;
      const refused = await api.post(`/users/${id}/set-password`, { password: STRONG_PASSWORD });
      assert.equal(refused.status, 409);
      assert.match(errorTitle(refused), /kept in the directory/);
      const [row] = await db`SELECT count(*)::int AS n FROM user_passwords WHERE user_id = ${id}`;
      assert.equal(row.n, 0, 'no local hash was written');
    } finally {
      await db.end();
    }
  });

  test('locking stops logins (M_USER_LOCKED) and existing tokens; unlocking gives them back', async () => {
    const id = await createUser('lockme');
    await setPassword(id);
    const before = await compatLogin(mauth.url, 'lockme', STRONG_PASSWORD);
    assert.equal(before.status, 200);
    const locked = await api.post(`/users/${id}/lock`);
    assert.equal(locked.status, 200, JSON.stringify(locked.body));
    assert.ok(locked.body.data.attributes.locked_at);
    assert.equal(locked.body.links.self, `/api/admin/v1/users/${id}/lock`);
    const refused = await compatLogin(mauth.url, 'lockme', STRONG_PASSWORD);
    assert.equal(refused.status, 401);
    assert.equal(refused.body.errcode, 'M_USER_LOCKED');
    assert.equal((await introspect(mauth.url, mauth.secret, before.body.access_token)).body.active, false);
    assert.deepEqual((await api.get('/users?filter[status]=locked')).body.data.map((u: { id: string }) => u.id), [id]);

    const unlocked = await api.post(`/users/${id}/unlock`);
    assert.equal(unlocked.body.data.attributes.locked_at, null);
    assert.equal((await introspect(mauth.url, mauth.secret, before.body.access_token)).body.active, true);
  });

  test('deactivating ends every session and asks the homeserver to delete (and erase) the user; reactivating reverses it', async () => {
    const id = await createUser('leaver');
    await setPassword(id);
    const session = await compatLogin(mauth.url, 'leaver', STRONG_PASSWORD);
    const deactivated = await api.post(`/users/${id}/deactivate`);
    assert.equal(deactivated.status, 200, JSON.stringify(deactivated.body));
    assert.ok(deactivated.body.data.attributes.deactivated_at);
    assert.equal((await introspect(mauth.url, mauth.secret, session.body.access_token)).body.active, false);
    assert.equal((await compatLogin(mauth.url, 'leaver', STRONG_PASSWORD)).body.errcode, 'M_USER_DEACTIVATED');
    await mauth.jobsSettled();
    const call = await hs.waitFor((c) => c.path === '/_synapse/mas/delete_user' && (c.body as { localpart?: string }).localpart === 'leaver');
    assert.deepEqual(call.body, { localpart: 'leaver', erase: true });
    const sessions = await api.get(`/compat-sessions?filter[user]=${id}&filter[status]=active`);
    assert.equal(sessions.body.meta.count, 0);

    const reactivated = await api.post(`/users/${id}/reactivate`);
    assert.equal(reactivated.status, 200);
    assert.equal(reactivated.body.data.attributes.deactivated_at, null);
    await mauth.jobsSettled();
    await hs.waitFor((c) => c.path === '/_synapse/mas/reactivate_user' && (c.body as { localpart?: string }).localpart === 'leaver');
    assert.equal((await compatLogin(mauth.url, 'leaver', STRONG_PASSWORD)).status, 200);

    const kept = await createUser('keeper');
    assert.equal((await api.post(`/users/${kept}/deactivate`, { skip_erase: true })).status, 200);
    await mauth.jobsSettled();
    const keep = await hs.waitFor((c) => c.path === '/_synapse/mas/delete_user' && (c.body as { localpart?: string }).localpart === 'keeper');
    assert.deepEqual(keep.body, { localpart: 'keeper', erase: false });
  });

  test('a homeserver that cannot answer gives 503 in the error shape, and no account is made', async () => {
    hs.failNext('is_localpart_available', 1, 500);
    const create = await api.post('/users', { username: 'unlucky' });
    assert.equal(create.status, 503, JSON.stringify(create.body));
    assert.ok(create.headers.get('retry-after'));
    errorTitle(create);
    assert.equal((await api.get('/users/by-username/unlucky')).status, 404);
  });

  test('set-admin lets a user request admin scopes', async () => {
    const id = await createUser('promoted');
    const set = await api.post(`/users/${id}/set-admin`, { admin: true });
    assert.equal(set.body.data.attributes.admin, true);
    assert.deepEqual((await api.get('/users?filter[admin]=true')).body.data.map((u: { id: string }) => u.id), [id]);
  });
});

describe('sessions', () => {
  test('finishing an OAuth 2.0 session ends its tokens and deletes its device', async () => {
    const id = await createUser('oauthuser');
    await setPassword(id);
    const client = await registerNativeClient(mauth.url);
    const grant = await authorize(new Browser(mauth.url), {
      client,
      scope: 'openid urn:matrix:client:api:* urn:matrix:client:device:ADMINFINISH1',
      username: 'oauthuser',
      password: STRONG_PASSWORD,
    });
    const tokens = await tokenRequest(mauth.url, {
      grant_type: 'authorization_code',
      code: grant.params.get('code')!,
      redirect_uri: client.redirect_uri,
      client_id: client.client_id,
      code_verifier: grant.verifier,
    });
    assert.equal(tokens.status, 200, JSON.stringify(tokens.body));
    const list = await api.get(`/oauth2-sessions?filter[user]=${id}&filter[status]=active`);
    assert.equal(list.body.meta.count, 1);
    const session = list.body.data[0];
    assert.equal(session.attributes.client_id, client.client_id);
    assert.match(session.attributes.scope, /urn:matrix:client:device:ADMINFINISH1/);
    // What the session recorded of the client at its token request, as MAS shows it.
    assert.equal(typeof session.attributes.user_agent, 'string');
    assert.match(session.attributes.last_active_ip ?? '', /127\.0\.0\.1/);

    const finished = await api.post(`/oauth2-sessions/${session.id}/finish`);
    assert.equal(finished.status, 200, JSON.stringify(finished.body));
    assert.ok(finished.body.data.attributes.finished_at);
    assert.equal((await introspect(mauth.url, mauth.secret, tokens.body.access_token)).body.active, false);
    const refresh = await tokenRequest(mauth.url, { grant_type: 'refresh_token', refresh_token: tokens.body.refresh_token, client_id: client.client_id });
    assert.equal(refresh.status, 400);
    await mauth.jobsSettled();
    await hs.waitFor((c) => c.path === '/_synapse/mas/delete_device' && (c.body as { device_id?: string }).device_id === 'ADMINFINISH1');
    const again = await api.post(`/oauth2-sessions/${session.id}/finish`);
    assert.equal(again.status, 400);
    assert.match(errorTitle(again), /already finished/);
  });

  test('finishing a compatibility session ends its token and deletes its device', async () => {
    const id = await createUser('compatuser');
    await setPassword(id);
    const login = await compatLogin(mauth.url, 'compatuser', STRONG_PASSWORD, 'COMPATDEV1');
    assert.equal(login.status, 200);
    const list = await api.get(`/compat-sessions?filter[user]=${id}`);
    assert.equal(list.body.data.length, 1);
    const session = list.body.data[0];
    assert.equal(session.attributes.device_id, 'COMPATDEV1');
    const finished = await api.post(`/compat-sessions/${session.id}/finish`);
    assert.equal(finished.status, 200, JSON.stringify(finished.body));
    assert.ok(finished.body.data.attributes.finished_at);
    assert.equal((await introspect(mauth.url, mauth.secret, login.body.access_token)).body.active, false);
    await mauth.jobsSettled();
    await hs.waitFor((c) => c.path === '/_synapse/mas/delete_device' && (c.body as { device_id?: string }).device_id === 'COMPATDEV1');
    assert.equal((await api.post(`/compat-sessions/${session.id}/finish`)).status, 400);
  });
});

describe('registration tokens', () => {
  test('a token created through the API lets one person register at /register', async () => {
    const created = await api.post('/user-registration-tokens', { usage_limit: 1 });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const { id, attributes } = created.body.data;
    assert.equal(created.body.data.type, 'user-registration_token');
    assert.match(attributes.token, /^[A-Za-z0-9]{12}$/);
    assert.equal(attributes.valid, true);
    assert.equal((await api.post('/user-registration-tokens', { token: attributes.token })).status, 409);

    const browser = new Browser(mauth.url);
    const submit = async (res: Response, fields: Record<string, string>) => {
      const form = parseForms(await res.text())[0];
      assert.ok(form, 'a form');
      return browser.postForm(form.action, { ...form.fields, ...fields });
    };
    let res = await submit(await browser.get('/register'), { username: 'tokenholder', email: '', password: STRONG_PASSWORD, password_confirm: STRONG_PASSWORD });
    assert.match(location(res), /\/token$/);
    res = await submit(await browser.get(location(res)), { token: attributes.token });
    while (res.status === 303) res = await browser.get(location(res));
    res = await submit(res, { action: 'skip' });
    assert.equal(location(res), '/account/');

    const after = await api.get(`/user-registration-tokens/${id}`);
    assert.equal(after.body.data.attributes.times_used, 1);
    assert.equal(after.body.data.attributes.valid, false);
    assert.equal((await api.get('/users/by-username/tokenholder')).status, 200);

    const raised = await api.put(`/user-registration-tokens/${id}`, { usage_limit: 2, expires_at: null });
    assert.equal(raised.body.data.attributes.valid, true);
    assert.equal((await api.put(`/user-registration-tokens/${id}`, { usage_limit: 0 })).status, 400);
    assert.equal((await api.post(`/user-registration-tokens/${id}/revoke`)).body.data.attributes.valid, false);
    assert.equal((await api.post(`/user-registration-tokens/${id}/revoke`)).status, 400);
    assert.equal((await api.post(`/user-registration-tokens/${id}/unrevoke`)).body.data.attributes.valid, true);
    assert.deepEqual((await api.get('/user-registration-tokens?filter[used]=true')).body.data.map((t: { id: string }) => t.id), [id]);
  });
});
