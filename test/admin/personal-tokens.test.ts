// Black box: personal access tokens (`mpt_…`) created through the admin API and the CLI, and admin
// access by users (authorization code grant with urn:mas:admin). The server runs in this process
// so that a token's expiry comes by moving its clock.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import postgres from 'postgres';
import { Browser } from '../support/http-client.js';
import type { InProcessMauth } from '../support/mauth-inprocess.js';
import { authorize, introspect, registerNativeClient, tokenRequest } from '../support/oauth-client.js';
import { ADMIN_CLIENT, AdminApi, STRONG_PASSWORD, adminToken, errorTitle, startAdminMauth, startHomeserver, type SharedHomeserver } from './support.js';

let hs: SharedHomeserver;
let mauth: InProcessMauth;
let api: AdminApi;
let sql: postgres.Sql;

before(async () => {
  hs = await startHomeserver('personal.test');
  mauth = await startAdminMauth(hs, { policy: { data: { admin_clients: [ADMIN_CLIENT.id], admin_users: ['listed'] } } });
  api = new AdminApi(mauth.url, await adminToken(mauth.url));
  sql = postgres(mauth.databaseUrl, { max: 1, onnotice: () => {} });
});

after(async () => {
  await sql?.end();
  await mauth?.stop();
  await mauth?.drop();
  await hs?.stop();
});

async function createUser(username: string, password?: string): Promise<string> {
  const created = await api.post('/users', { username });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const id = created.body.data.id as string;
  if (password) assert.equal((await api.post(`/users/${id}/set-password`, { password })).status, 204);
  return id;
}

async function issue(actor: string, scope: string, expiresIn?: number, caller = api) {
  const created = await caller.post('/personal-sessions', { actor_user_id: actor, human_name: 'script', scope, ...(expiresIn ? { expires_in: expiresIn } : {}) });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  return { id: created.body.data.id as string, token: created.body.data.attributes.access_token as string, body: created.body };
}

describe('personal access tokens', () => {
  test('a token works, is stored only hashed, and stops working when it expires', async () => {
    const actor = await createUser('robot');
    const { id, token, body } = await issue(actor, 'urn:mas:admin', 3600);
    assert.match(token, /^mpt_[A-Za-z0-9]{30}_[A-Za-z0-9]{6}$/);
    assert.equal(body.data.attributes.owner_client_id, ADMIN_CLIENT.id);
    assert.equal(body.data.attributes.owner_user_id, null);
    assert.equal(body.data.attributes.actor_user_id, actor);
    assert.ok(body.data.attributes.expires_at);

    const withToken = new AdminApi(mauth.url, token);
    assert.equal((await withToken.get('/users')).status, 200);
    const shown = await api.get(`/personal-sessions/${id}`);
    assert.equal(shown.body.data.attributes.access_token, undefined, 'the token is shown once');
    assert.ok(shown.body.data.attributes.last_active_at, 'its use is recorded');

    const rows = await sql`SELECT row_to_json(t)::text AS row FROM personal_access_tokens t
                           UNION ALL SELECT row_to_json(s)::text FROM personal_sessions s`;
    assert.ok(rows.length >= 2);
    for (const { row } of rows) assert.ok(!row.includes(token) && !row.includes(token.slice(4, 34)), `no plaintext in ${row}`);
    const [stored] = await sql`SELECT token_hash FROM personal_access_tokens WHERE session_id = ${id}`;
    assert.equal(stored.token_hash, createHash('sha256').update(token).digest('base64url'));

    await mauth.advance(3601);
    const expired = await withToken.get('/users');
    assert.equal(expired.status, 401);
    errorTitle(expired);
    assert.equal((await introspect(mauth.url, mauth.secret, token)).body.active, false);
    // The client_credentials token of `api` expired too (access_token_ttl): a fresh one.
    assert.equal((await api.get('/version')).status, 401);
    api.token = await adminToken(mauth.url);
  });

  test('a revoked token gets 401; revoking twice is a conflict', async () => {
    const actor = await createUser('revokee');
    const { id, token } = await issue(actor, 'urn:mas:admin');
    const withToken = new AdminApi(mauth.url, token);
    assert.equal((await withToken.get('/version')).status, 200);
    const revoked = await api.post(`/personal-sessions/${id}/revoke`);
    assert.equal(revoked.status, 200);
    assert.ok(revoked.body.data.attributes.revoked_at);
    assert.equal((await withToken.get('/version')).status, 401);
    assert.equal((await api.post(`/personal-sessions/${id}/revoke`)).status, 409);
    assert.equal((await api.post(`/personal-sessions/${id}/regenerate`, {})).status, 422);
    const listed = await api.get(`/personal-sessions?filter[actor_user]=${actor}&filter[status]=revoked`);
    assert.deepEqual(listed.body.data.map((s: { id: string }) => s.id), [id]);
  });

  test('its owner regenerates it: the old token stops, the new one works; others may not', async () => {
    const actor = await createUser('regen');
    const { id, token } = await issue(actor, 'urn:mas:admin');
    const regenerated = await api.post(`/personal-sessions/${id}/regenerate`, { expires_in: 60 });
    assert.equal(regenerated.status, 201, JSON.stringify(regenerated.body));
    const fresh = regenerated.body.data.attributes.access_token as string;
    assert.notEqual(fresh, token);
    assert.equal((await new AdminApi(mauth.url, token).get('/version')).status, 401);
    assert.equal((await new AdminApi(mauth.url, fresh).get('/version')).status, 200);
    // A token acting as the user owns what it creates: the user, not the client.
    const own = await issue(actor, 'urn:mas:admin', undefined, new AdminApi(mauth.url, fresh));
    assert.equal(own.body.data.attributes.owner_user_id, actor);
    const foreign = await new AdminApi(mauth.url, own.token).post(`/personal-sessions/${id}/regenerate`);
    assert.equal(foreign.status, 403);
    assert.equal(errorTitle(foreign), 'Session does not belong to you');
  });

  test('introspection answers for a token with the Matrix API scope, as MAS does', async () => {
    const actor = await createUser('apibot');
    const { token } = await issue(actor, 'urn:matrix:client:api:*', 600);
    const answer = await introspect(mauth.url, mauth.secret, token);
    assert.equal(answer.body.active, true);
    assert.equal(answer.body.username, 'apibot');
    assert.equal(answer.body.sub, actor);
    assert.match(answer.body.scope, /urn:matrix:client:api:\*/);
    // Issued with a 600 s lifetime a moment ago on the server's real clock: a second may have ticked.
    assert.ok(answer.body.expires_in <= 600 && answer.body.expires_in >= 590, `expires_in ${answer.body.expires_in}`);
    assert.equal((await new AdminApi(mauth.url, token).get('/version')).status, 401, 'no admin scope, no admin API');
  });

  test('locking the actor stops its tokens; deactivating revokes them', async () => {
    const actor = await createUser('lockbot');
    const { token } = await issue(actor, 'urn:mas:admin');
    const withToken = new AdminApi(mauth.url, token);
    await api.post(`/users/${actor}/lock`);
    assert.equal((await withToken.get('/version')).status, 401);
    await api.post(`/users/${actor}/unlock`);
    assert.equal((await withToken.get('/version')).status, 200);
    await api.post(`/users/${actor}/deactivate`);
    const [row] = await sql`SELECT revoked_at FROM personal_sessions WHERE actor_user_id = ${actor}`;
    assert.ok(row.revoked_at);
    await api.post(`/users/${actor}/reactivate`);
    assert.equal((await withToken.get('/version')).status, 401);
  });

  test('mauth manage issue-personal-token prints a token for the admin API', async () => {
    await createUser('operator');
    const issued = await mauth.cli('manage', 'issue-personal-token', 'operator', '--name', 'bootstrap');
    assert.equal(issued.code, 0, issued.stderr);
    const token = issued.stdout.trim();
    assert.match(token, /^mpt_/);
    const listed = await new AdminApi(mauth.url, token).get('/personal-sessions?filter[status]=active');
    assert.equal(listed.status, 200);
    const mine = listed.body.data.find((s: { attributes: { human_name: string } }) => s.attributes.human_name === 'bootstrap');
    assert.equal(mine.attributes.scope, 'urn:mas:admin');
    assert.equal(mine.attributes.owner_user_id, mine.attributes.actor_user_id);
    const refused = await mauth.cli('manage', 'issue-personal-token', 'operator', '--scope', 'urn:matrix:client:device:ABCDEFGHIJ');
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /device/);
  });
});

describe('users with admin rights', () => {
  async function userToken(username: string, scope: string) {
    const client = await registerNativeClient(mauth.url);
    const grant = await authorize(new Browser(mauth.url), { client, scope, username, password: STRONG_PASSWORD });
    if (!grant.params.get('code')) return { error: grant.params.get('error') };
    const tokens = await tokenRequest(mauth.url, { grant_type: 'authorization_code', code: grant.params.get('code')!, redirect_uri: client.redirect_uri, client_id: client.client_id, code_verifier: grant.verifier });
    assert.equal(tokens.status, 200, JSON.stringify(tokens.body));
    return { token: tokens.body.access_token as string };
  }

  test('an admin user (flag or policy.data.admin_users) gets urn:mas:admin by the authorization code grant; others do not', async () => {
    const flagged = await createUser('flagged', STRONG_PASSWORD);
    await api.post(`/users/${flagged}/set-admin`, { admin: true });
    await createUser('listed', STRONG_PASSWORD);
    await createUser('plain', STRONG_PASSWORD);
    for (const username of ['flagged', 'listed']) {
      const { token } = await userToken(username, 'openid urn:mas:admin');
      assert.ok(token, username);
      assert.equal((await new AdminApi(mauth.url, token).get('/users')).status, 200, username);
    }
    const refused = await userToken('plain', 'openid urn:mas:admin');
    assert.equal(refused.error, 'access_denied');
  });
});
