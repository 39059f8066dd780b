// Black box: who may call the admin API, and what it does with input it did not expect. Every
// route of /api/spec.json is walked with no token and with tokens that are not admin tokens;
// ids, cursors and filters carry SQL metacharacters, over-long and mistyped values. The answers
// are 401 or 400 in MAS's error shape, never a 500. The document itself is valid OpenAPI 3.1.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import SwaggerParser from '@apidevtools/swagger-parser';
import postgres from 'postgres';
import { Browser } from '../support/http-client.js';
import { lockTable } from '../support/table-lock.js';
import type { InProcessMauth } from '../support/mauth-inprocess.js';
import { authorize, registerNativeClient, tokenRequest } from '../support/oauth-client.js';
import { AdminApi, OTHER_CLIENT, STRONG_PASSWORD, adminToken, compatLogin, errorTitle, startAdminMauth, startHomeserver, type SharedHomeserver } from './support.js';
import { MAS_ROUTES, matchesRouteSchema } from './spec-check.js';

let hs: SharedHomeserver;
let mauth: InProcessMauth;
let api: AdminApi;
let spec: { openapi: string; paths: Record<string, Record<string, { operationId: string }>> };
const SOME_ID = '01ARZ3NDEKTSV4RRFFQ69G5FAV';

before(async () => {
  hs = await startHomeserver('access.test');
  // Short lock waits, so that a stalled database answers quickly in the test below.
  mauth = await startAdminMauth(hs, {}, { database: { lock_timeout: 2 } });
  api = new AdminApi(mauth.url, await adminToken(mauth.url));
  spec = (await (await fetch(`${mauth.url}/api/spec.json`)).json()) as typeof spec;
});

after(async () => {
  await mauth?.stop();
  await mauth?.drop();
  await hs?.stop();
});

/** Every operation of the document, with its path parameters filled in. */
function operations(): { method: string; path: string; operationId: string }[] {
  return Object.entries(spec.paths).flatMap(([path, methods]) =>
    Object.entries(methods).map(([method, op]) => ({
      method: method.toUpperCase(),
      path: path.replace('{id}', SOME_ID).replace('{username}', 'someone'),
      operationId: op.operationId,
    })),
  );
}

describe('the OpenAPI document', () => {
  test('is valid OpenAPI 3.1 and lists every route of the admin API', async () => {
    assert.equal(spec.openapi, '3.1.0');
    await SwaggerParser.validate(structuredClone(spec) as never);
    const listed = new Set(Object.entries(spec.paths).flatMap(([path, methods]) => Object.keys(methods).map((m) => `${m.toUpperCase()} ${path}`)));
    for (const route of MAS_ROUTES) assert.ok(listed.has(route), `the document lists ${route}`);
  });

  test('Swagger UI is served from this server, with no outside script', async () => {
    const redirect = await fetch(`${mauth.url}/api/doc`, { redirect: 'manual' });
    assert.equal(redirect.status, 301);
    const page = await fetch(`${mauth.url}/api/doc/`);
    assert.equal(page.status, 200);
    const html = await page.text();
    assert.doesNotMatch(html, /https?:\/\//, 'no CDN');
    for (const asset of ['swagger-ui-bundle.js', 'swagger-ui.css', 'swagger-initializer.js']) {
      assert.match(html, new RegExp(asset.replace('.', '\\.')));
      const res = await fetch(`${mauth.url}/api/doc/${asset}`);
      assert.equal(res.status, 200, asset);
    }
    assert.match(await (await fetch(`${mauth.url}/api/doc/swagger-initializer.js`)).text(), /spec\.json/);
    assert.equal((await fetch(`${mauth.url}/api/doc/package.json`)).status, 404, 'only the assets the page uses');
  });
});

describe('who may call it', () => {
  let userToken: string;
  let apiScopeToken: string;
  let compatToken: string;
  let clientToken: string;

  before(async () => {
    const created = await api.post('/users', { username: 'ordinary' });
    await api.post(`/users/${created.body.data.id}/set-password`, { password: STRONG_PASSWORD });
    const client = await registerNativeClient(mauth.url);
    const exchange = async (scope: string) => {
      const grant = await authorize(new Browser(mauth.url), { client, scope, username: 'ordinary', password: STRONG_PASSWORD });
      const tokens = await tokenRequest(mauth.url, { grant_type: 'authorization_code', code: grant.params.get('code')!, redirect_uri: client.redirect_uri, client_id: client.client_id, code_verifier: grant.verifier });
      assert.equal(tokens.status, 200, JSON.stringify(tokens.body));
      return tokens.body.access_token as string;
    };
    userToken = await exchange('openid');
    apiScopeToken = await exchange('openid urn:matrix:client:api:* urn:matrix:client:device:ACCESSDEV01');
    compatToken = (await compatLogin(mauth.url, 'ordinary', STRONG_PASSWORD)).body.access_token as string;
    const other = await fetch(`${mauth.url}/oauth2/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'client_credentials', scope: 'openid', client_id: OTHER_CLIENT.id, client_secret: OTHER_CLIENT.secret }).toString(),
    });
    clientToken = ((await other.json()) as { access_token: string }).access_token;
    assert.ok(clientToken);
  });

  test('nobody without an admin token gets past any route of the document', async () => {
    const callers: [string, Record<string, string>][] = [
      ['no token', {}],
      ['a user token', { authorization: `Bearer ${userToken}` }],
      ['a homeserver API token', { authorization: `Bearer ${apiScopeToken}` }],
      ['a compatibility token', { authorization: `Bearer ${compatToken}` }],
      ['a client token without the admin scope', { authorization: `Bearer ${clientToken}` }],
      ['the homeserver secret', { authorization: `Bearer ${mauth.secret}` }],
      ['a made-up token', { authorization: 'Bearer mat_notarealtokennotarealtoken12_000000' }],
      ['another scheme', { authorization: `Basic ${Buffer.from('a:b').toString('base64')}` }],
    ];
    const ops = operations();
    assert.ok(ops.length >= MAS_ROUTES.length, `${ops.length} operations`);
    const anonymous = new AdminApi(mauth.url, undefined);
    for (const [who, headers] of callers) {
      for (const op of ops) {
        const answer = await anonymous.call(op.method, op.path, op.method === 'GET' || op.method === 'DELETE' ? undefined : {}, headers);
        assert.ok([401, 403].includes(answer.status), `${who}: ${op.method} ${op.path} answered ${answer.status}`);
        errorTitle(answer);
      }
    }
    const answer = await anonymous.get('/users');
    assert.equal(answer.headers.get('www-authenticate'), 'Bearer');
  });
});

describe('input it did not expect', () => {
  test('ids, cursors and typed filters that are not what they should be get 400, never 500', async () => {
    const bad = [
      "/users/'%3B%20DROP%20TABLE%20users%3B--",
      '/users/01ARZ3NDEKTSV4RRFFQ69G5FA',
      `/users/${'0'.repeat(5000)}`,
      '/users/01arz3ndektsv4rrffq69g5fav',
      "/users?page[after]='%20OR%201%3D1%20--",
      '/users?page[before]=nope',
      '/users?page[first]=0',
      '/users?page[first]=-5',
      '/users?page[first]=ten',
      '/users?page[first]=100000000000000000000',
      '/users?page[first]=10&page[last]=10',
      '/users?filter[admin]=yes',
      '/users?filter[admin]=1',
      '/users?filter[admin]=true&filter[admin]=false',
      '/users?filter[status]=%27%20OR%20%271%27%3D%271',
      `/users?filter[search]=${'x'.repeat(300)}`,
      '/users?filter[search]=',
      '/users?filter[active-oauth2-client]=robert%27)%3B--',
      '/users?count=maybe',
      '/user-emails?filter[user]=1%20OR%201%3D1',
      `/user-emails?filter[email]=${'a'.repeat(400)}`,
      '/oauth2-sessions?filter[created-before]=yesterday',
      '/oauth2-sessions?filter[created-before]=2026-13-45T99:99:99Z',
      '/oauth2-sessions?filter[client-kind]=both',
      '/compat-sessions?filter[status]=%25',
      '/personal-sessions?filter[expires]=never',
      '/user-registration-tokens?filter[valid]=%00',
      '/upstream-oauth-links?filter[provider]=%22%3B',
      '/policy-data/latest%27--',
      '/users?filter[search]=a%00b',
      '/users/%00',
      '/users/%E0%A4%A',
      '/user-emails?filter[email]=a%00@example.org',
      // Well-formed times that leave PostgreSQL's range once turned to UTC (years 0 and 10000).
      '/oauth2-sessions?filter[created-before]=0000-01-01T00:00:00Z',
      '/compat-sessions?filter[created-after]=0001-01-01T00:00:00%2B01:00',
      '/user-sessions?filter[last-active-after]=9999-12-31T23:59:59-23:59',
      '/personal-sessions?filter[expires_before]=0000-06-01T00:00:00Z',
    ];
    for (const path of bad) {
      const answer = await api.get(path);
      assert.equal(answer.status, 400, `${path}: ${answer.status} ${JSON.stringify(answer.body)}`);
      errorTitle(answer);
    }
  });

  test('bodies of the wrong shape or type get 400 (413 when too large), never 500', async () => {
    const id = (await api.post('/users', { username: 'bodytarget' })).body.data.id as string;
    const cases: [string, string, unknown, number][] = [
      ['POST', '/users', { username: 42 }, 400],
      ['POST', '/users', { username: ['a'] }, 400],
      ['POST', '/users', {}, 400],
      ['POST', '/users', '{"username": "a"', 400],
      ['POST', '/users', '[1, 2]', 400],
      ['POST', '/users', { username: "robert'); DROP TABLE users;--" }, 400],
      ['POST', '/users', { username: 'x'.repeat(300) }, 400],
      ['POST', `/users/${id}/set-password`, { password: 12345 }, 400],
      ['POST', `/users/${id}/set-password`, undefined, 400],
      ['POST', `/users/${id}/set-admin`, { admin: 'yes' }, 400],
      ['POST', `/users/${id}/deactivate`, { skip_erase: 'no' }, 400],
      ['POST', '/user-emails', { user_id: id, email: 'not an address' }, 400],
      ['POST', '/user-emails', { user_id: "1' OR '1'='1", email: 'a@example.org' }, 400],
      ['POST', '/personal-sessions', { actor_user_id: id, human_name: 'x', scope: 'urn:mas:admin', expires_in: -1 }, 400],
      ['POST', '/personal-sessions', { actor_user_id: id, human_name: 'x', scope: 'bad"scope' }, 400],
      ['POST', '/personal-sessions', { actor_user_id: id, human_name: 'x', scope: 'urn:matrix:client:device:ABCDEFGHIJ' }, 400],
      ['POST', '/user-registration-tokens', { usage_limit: 'ten' }, 400],
      ['POST', '/user-registration-tokens', { expires_at: 'tomorrow' }, 400],
      ['POST', '/user-registration-tokens', { expires_at: '0000-01-01T00:00:00Z' }, 400],
      ['POST', '/user-registration-tokens', { expires_at: '9999-12-31T23:59:59-23:59' }, 400],
      ['PUT', `/user-registration-tokens/${SOME_ID}`, { expires_at: '0001-01-01T00:30:00+01:00' }, 400],
      ['PUT', `/user-registration-tokens/${SOME_ID}`, { usage_limit: 1.5 }, 400],
      ['POST', '/policy-data', { data: 'not an object' }, 400],
      ['POST', '/policy-data', { data: { admin_clients: 'not a list' } }, 400],
      ['POST', '/upstream-oauth-links', { user_id: id, provider_id: SOME_ID, subject: 7 }, 400],
      ['POST', '/personal-sessions', { actor_user_id: id, human_name: 'nul\u0000name', scope: 'urn:mas:admin' }, 400],
      ['POST', '/policy-data', { data: { 'key\u0000': 1 } }, 400],
      ['POST', '/policy-data', { data: { registration: { banned_usernames: { literals: ['a\u0000b'] } } } }, 400],
      ['POST', '/users', JSON.stringify({ username: 'big', displayname: 'x'.repeat(2 * 1024 * 1024) }), 413],
    ];
    for (const [method, path, body, status] of cases) {
      const answer = await api.call(method, path, body);
      assert.equal(answer.status, status, `${method} ${path} ${typeof body === 'string' ? body.slice(0, 40) : JSON.stringify(body)?.slice(0, 80)}: ${JSON.stringify(answer.body)}`);
      errorTitle(answer);
    }
  });

  test('a search with SQL metacharacters matches nothing', async () => {
    for (const search of ["%' OR '1'='1", '%', '_', "'; DROP TABLE users; --", '\\', '%%%%']) {
      const answer = await api.get(`/users?filter[search]=${encodeURIComponent(search)}`);
      assert.equal(answer.status, 200, search);
      assert.deepEqual(answer.body.data, [], search);
      assert.equal(answer.body.meta.count, 0);
    }
    const sql = postgres(mauth.databaseUrl, { max: 1, onnotice: () => {} });
    try {
      assert.ok((await sql`SELECT count(*)::int AS n FROM users`)[0].n > 0, 'the users are all still there');
    } finally {
      await sql.end();
    }
  });

  test('unknown paths and methods answer in the error shape', async () => {
    const missing = await api.get('/nothing-here');
    assert.equal(missing.status, 404);
    errorTitle(missing);
    const method = await api.delete('/users');
    assert.equal(method.status, 405);
    assert.match(method.headers.get('allow') ?? '', /GET/);
    assert.equal((await api.get(`/users/${SOME_ID}`)).status, 404);
  });

  test('filters naming a user or client that does not exist are a 404, as in MAS, not an empty page', async () => {
    const paths = [
      `/users?filter[active-oauth2-client]=${SOME_ID}`,
      `/oauth2-sessions?filter[client]=${SOME_ID}`,
      `/oauth2-sessions?filter[user]=${SOME_ID}`,
      `/personal-sessions?filter[owner_user]=${SOME_ID}`,
      `/personal-sessions?filter[owner_client]=${SOME_ID}`,
      `/personal-sessions?filter[actor_user]=${SOME_ID}`,
      `/user-emails?filter[user]=${SOME_ID}`,
    ];
    for (const path of paths) {
      const answer = await api.get(path);
      assert.equal(answer.status, 404, `${path}: ${answer.status} ${JSON.stringify(answer.body)}`);
      assert.match(errorTitle(answer), new RegExp(`^(User|Client) ID ${SOME_ID} not found$`), path);
    }
    const staticClient = `/oauth2-sessions?filter[client]=${OTHER_CLIENT.id}`;
    assert.equal((await api.get(staticClient)).status, 200, 'a configured client exists');
  });

  test('answers match the schemas the document publishes', async () => {
    for (const path of ['/site-config', '/version', '/users', '/users?count=only', '/oauth2-clients', '/user-registration-tokens', '/personal-sessions', '/upstream-oauth-providers']) {
      const answer = await api.get(path);
      assert.equal(answer.status, 200, path);
      assert.equal(matchesRouteSchema('GET', path.split('?')[0], 200, answer.body), true, `${path}: ${JSON.stringify(answer.body).slice(0, 300)}`);
    }
    const clients = (await api.get('/oauth2-clients?filter[client-kind]=static')).body.data.map((c: { attributes: { grant_types: string[] } }) => c.attributes.grant_types);
    assert.deepEqual(clients, [['client_credentials'], ['client_credentials']]);
  });

  test('a stalled database gives 503 in the error shape with Retry-After, and recovers', async () => {
    const lock = await lockTable(mauth.databaseUrl, 'users');
    try {
      const answer = await api.get('/users');
      assert.equal(answer.status, 503, JSON.stringify(answer.body));
      assert.ok(answer.headers.get('retry-after'));
      errorTitle(answer);
    } finally {
      await lock.release();
    }
    assert.equal((await api.get('/users')).status, 200);
  });

  test('browsers on other origins may call it (CORS), as MAS allows', async () => {
    const res = await fetch(`${mauth.url}/api/admin/v1/users`, {
      method: 'OPTIONS',
      headers: { origin: 'https://panel.example', 'access-control-request-method': 'GET', 'access-control-request-headers': 'authorization' },
    });
    assert.equal(res.status, 204);
    assert.equal(res.headers.get('access-control-allow-origin'), '*');
    assert.match(res.headers.get('access-control-allow-headers') ?? '', /Authorization/i);
  });
});
