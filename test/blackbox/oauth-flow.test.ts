// Black box: the real `mauth server` process, a homeserver double, and nothing but HTTP.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';
import type { HomeserverDouble } from '../support/homeserver-double.js';
import { Browser, location, parseForms } from '../support/http-client.js';
import { startSetup, type Setup } from '../support/homeserver-setup.js';
import type { MauthInstance } from '../support/mauth-process.js';
import { authorize, introspect, registerClient, tokenRequest, type RegisteredClient } from '../support/oauth-client.js';

const SERVER_NAME = 'example.test';
const API = 'urn:matrix:client:api:*';
const UNSTABLE_API = 'urn:matrix:org.matrix.msc2967.client:api:*';
const scopeFor = (device: string) => `openid ${API} urn:matrix:client:device:${device}`;
const device = () => `DEV${randomBytes(6).toString('hex').toUpperCase()}`;

const BASIC_CLIENT = '0000000000000000000SYNAPSE';
const POST_CLIENT = '0000000000000000000SYNAPS2';

let setup: Setup<MauthInstance>;
let hs: HomeserverDouble;
let mauth: MauthInstance;
let native: RegisteredClient;
let web: RegisteredClient;

before(async () => {
  setup = await startSetup({
    serverName: SERVER_NAME,
    extra: {
      // Older Synapse setups (experimental_features.msc3861) introspect as a confidential client.
      clients: [
        { client_id: BASIC_CLIENT, client_auth_method: 'client_secret_basic', client_secret: 'basic-secret-0123456789', redirect_uris: ['https://synapse.example.test/cb'] },
        { client_id: POST_CLIENT, client_auth_method: 'client_secret_post', client_secret: 'post-secret-0123456789', redirect_uris: ['https://synapse.example.test/cb'] },
      ],
    },
    users: ['alice', 'root', 'mallory'].map((name) => ({ name, password: `${name}-password-1`, email: `${name}@example.test`, admin: name === 'root' })),
  });
  ({ hs, mauth } = setup);
});

after(() => setup?.stop());

test('discovery has the fields Synapse and Matrix clients need, built from public_base', async () => {
  const res = await fetch(`${mauth.url}/.well-known/openid-configuration`, { headers: { host: 'internal.invalid:1234' } });
  assert.equal(res.status, 200);
  const d = (await res.json()) as Record<string, any>;
  assert.equal(d.issuer, `${mauth.url}/`);
  assert.equal(d.authorization_endpoint, `${mauth.url}/authorize`);
  assert.equal(d.token_endpoint, `${mauth.url}/oauth2/token`);
  assert.equal(d.registration_endpoint, `${mauth.url}/oauth2/registration`);
  assert.equal(d.revocation_endpoint, `${mauth.url}/oauth2/revoke`);
  assert.equal(d.userinfo_endpoint, `${mauth.url}/oauth2/userinfo`);
  assert.equal(d.jwks_uri, `${mauth.url}/oauth2/keys.json`);
  assert.equal(d.account_management_uri, `${mauth.url}/account/`);
  assert.ok(d.account_management_actions_supported.includes('org.matrix.session_end'));
  for (const mode of ['query', 'fragment']) assert.ok(d.response_modes_supported.includes(mode));
  assert.deepEqual(d.response_types_supported, ['code']);
  assert.ok(d.code_challenge_methods_supported.includes('S256'));
  assert.ok(d.grant_types_supported.includes('refresh_token'));
  const jwks = (await (await fetch(d.jwks_uri)).json()) as { keys: { kty: string; d?: string }[] };
  assert.deepEqual(jwks.keys.map((k) => k.kty).sort(), ['EC', 'RSA']);
  assert.ok(jwks.keys.every((k) => k.d === undefined), 'no private key material is published');
});

test('clients register dynamically under the registration policy', async () => {
  const n = await registerClient(mauth.url, {
    client_name: 'Native app',
    application_type: 'native',
    client_uri: 'https://app.example.org/',
    redirect_uris: ['http://127.0.0.1/callback'],
    grant_types: ['authorization_code', 'refresh_token', 'urn:ietf:params:oauth:grant-type:device_code'],
    token_endpoint_auth_method: 'none',
    response_types: ['code'],
  });
  const nb = (await n.json()) as any;
  assert.equal(n.status, 201, JSON.stringify(nb));
  assert.ok(nb.grant_types.includes('urn:ietf:params:oauth:grant-type:device_code'), 'the device grant is kept while it is enabled');
  native = { client_id: nb.client_id, redirect_uri: 'http://127.0.0.1/callback' };

  const w = await registerClient(mauth.url, {
    client_name: 'Web app',
    'client_name#fr': 'Appli web',
    client_uri: 'https://web.example.org/',
    redirect_uris: ['https://web.example.org/callback'],
    token_endpoint_auth_method: 'none',
    response_types: ['code'],
    grant_types: ['authorization_code', 'refresh_token'],
  });
  const wb = (await w.json()) as any;
  assert.equal(w.status, 201, JSON.stringify(wb));
  web = { client_id: wb.client_id, redirect_uri: 'https://web.example.org/callback' };

  const bad = await registerClient(mauth.url, {
    client_uri: 'https://web.example.org/',
    redirect_uris: ['https://evil.example.net/callback'],
    token_endpoint_auth_method: 'none',
  });
  assert.equal(bad.status, 400);
  assert.ok(['invalid_redirect_uri', 'invalid_client_metadata'].includes(((await bad.json()) as any).error));
});

let refreshed: { access: string; refresh: string; oldRefresh: string; device: string };

test('a client logs in through the HTML forms, gets tokens Synapse accepts, refreshes', async () => {
  const browser = new Browser(mauth.url);
  const dev = device();
  const { params, verifier } = await authorize(browser, {
    client: native,
    scope: scopeFor(dev),
    responseMode: 'query',
    username: 'ALICE',
    password: 'alice-password-1',
  });
  const code = params.get('code');
  assert.ok(code, 'an authorization code comes back');

  const upsertsBefore = hs.calls.filter((c) => c.path.endsWith('/upsert_device')).length;
  const tokens = await tokenRequest(mauth.url, {
    grant_type: 'authorization_code',
    code: code!,
    redirect_uri: native.redirect_uri,
    client_id: native.client_id,
    code_verifier: verifier,
  });
  assert.equal(tokens.status, 200, JSON.stringify(tokens.body));
  assert.match(tokens.body.access_token, /^mat_[A-Za-z0-9]{30}_[A-Za-z0-9]{6}$/);
  assert.match(tokens.body.refresh_token, /^mar_[A-Za-z0-9]{30}_[A-Za-z0-9]{6}$/);
  assert.equal(tokens.body.expires_in, 300);
  // The device existed on the homeserver before the client got its token.
  const upserts = hs.calls.filter((c) => c.path.endsWith('/upsert_device'));
  assert.equal(upserts.length, upsertsBefore + 1);
  assert.deepEqual({ ...(upserts.at(-1)!.body as object), display_name: undefined }, { localpart: 'alice', device_id: dev, display_name: undefined });
  assert.ok(hs.devices('alice').has(dev));
  await hs.waitFor((c) => c.path.endsWith('/provision_user') && (c.body as any)?.localpart === 'alice', 5000);
  const provision = hs.calls.find((c) => c.path.endsWith('/provision_user') && (c.body as any)?.localpart === 'alice')!;
  assert.deepEqual((provision.body as any).set_emails, ['alice@example.test']);

  const info = await introspect(mauth.url, mauth.secret, tokens.body.access_token);
  assert.equal(info.status, 200);
  assert.equal(info.body.active, true);
  assert.equal(info.body.username, 'alice');
  assert.equal(info.body.device_id, dev);
  assert.equal(info.body.client_id, native.client_id);
  const scopes = info.body.scope.split(' ');
  for (const s of [API, UNSTABLE_API, `urn:matrix:client:device:${dev}`, `urn:matrix:org.matrix.msc2967.client:device:${dev}`]) {
    assert.ok(scopes.includes(s), `scope ${s} in ${info.body.scope}`);
  }
  assert.ok(Number.isInteger(info.body.expires_in) && info.body.expires_in > 0 && info.body.expires_in <= 300);

  const next = await tokenRequest(mauth.url, {
    grant_type: 'refresh_token',
    refresh_token: tokens.body.refresh_token,
    client_id: native.client_id,
  });
  assert.equal(next.status, 200, JSON.stringify(next.body));
  assert.notEqual(next.body.refresh_token, tokens.body.refresh_token);
  assert.equal((await introspect(mauth.url, mauth.secret, tokens.body.access_token)).body.active, false, 'the refresh revokes the access token it replaces');
  refreshed = { access: next.body.access_token, refresh: next.body.refresh_token, oldRefresh: tokens.body.refresh_token, device: dev };
});

test('a replayed refresh token after the new access token was used ends the session', async () => {
  assert.equal((await introspect(mauth.url, mauth.secret, refreshed.access)).body.active, true);
  const replay = await tokenRequest(mauth.url, {
    grant_type: 'refresh_token',
    refresh_token: refreshed.oldRefresh,
    client_id: native.client_id,
  });
  assert.equal(replay.status, 400);
  assert.equal(replay.body.error, 'invalid_grant');
  assert.equal((await introspect(mauth.url, mauth.secret, refreshed.access)).body.active, false);
  await hs.waitFor((c) => c.path.endsWith('/delete_device') && (c.body as any)?.device_id === refreshed.device, 5000);
});

test('a refresh response that was lost can be retried once with the old refresh token', async () => {
  const browser = new Browser(mauth.url);
  const { params, verifier } = await authorize(browser, { client: native, scope: scopeFor(device()), username: 'alice', password: 'alice-password-1' });
  const first = await tokenRequest(mauth.url, { grant_type: 'authorization_code', code: params.get('code')!, redirect_uri: native.redirect_uri, client_id: native.client_id, code_verifier: verifier });
  const lost = await tokenRequest(mauth.url, { grant_type: 'refresh_token', refresh_token: first.body.refresh_token, client_id: native.client_id });
  assert.equal(lost.status, 200);
  const retry = await tokenRequest(mauth.url, { grant_type: 'refresh_token', refresh_token: first.body.refresh_token, client_id: native.client_id });
  assert.equal(retry.status, 200, JSON.stringify(retry.body));
  assert.equal((await introspect(mauth.url, mauth.secret, retry.body.access_token)).body.active, true);
  assert.equal((await introspect(mauth.url, mauth.secret, lost.body.access_token)).body.active, false, 'the lost successor is discarded');
});

test('response_mode=fragment returns the code in the fragment; revocation ends the session', async () => {
  const browser = new Browser(mauth.url);
  const dev = device();
  const { params, redirect, verifier } = await authorize(browser, {
    client: web,
    scope: scopeFor(dev),
    responseMode: 'fragment',
    username: 'alice',
    password: 'alice-password-1',
  });
  assert.ok(new URL(redirect).hash.includes('code='));
  assert.equal(new URL(redirect).search, '');
  const tokens = await tokenRequest(mauth.url, {
    grant_type: 'authorization_code',
    code: params.get('code')!,
    redirect_uri: web.redirect_uri,
    client_id: web.client_id,
    code_verifier: verifier,
  });
  assert.equal(tokens.status, 200);
  const revoke = async () =>
    fetch(`${mauth.url}/oauth2/revoke`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token: tokens.body.access_token, client_id: web.client_id }).toString(),
    });
  assert.equal((await revoke()).status, 200);
  assert.equal((await introspect(mauth.url, mauth.secret, tokens.body.access_token)).body.active, false);
  const refresh = await tokenRequest(mauth.url, { grant_type: 'refresh_token', refresh_token: tokens.body.refresh_token, client_id: web.client_id });
  assert.equal(refresh.body.error, 'invalid_grant', 'the refresh token of a revoked session is dead too');
  await hs.waitFor((c) => c.path.endsWith('/delete_device') && (c.body as any)?.device_id === dev, 5000);
  assert.equal((await revoke()).status, 200, 'revoking again still answers 200');
});

test('confidential clients from the config may introspect; discovery names the endpoint', async () => {
  const d = (await (await fetch(`${mauth.url}/.well-known/openid-configuration`)).json()) as Record<string, string>;
  assert.equal(d.introspection_endpoint, `${mauth.url}/oauth2/introspect`);
  const browser = new Browser(mauth.url);
  const { params, verifier } = await authorize(browser, { client: native, scope: scopeFor(device()), username: 'alice', password: 'alice-password-1' });
  const tokens = await tokenRequest(mauth.url, { grant_type: 'authorization_code', code: params.get('code')!, redirect_uri: native.redirect_uri, client_id: native.client_id, code_verifier: verifier });
  const ask = (headers: Record<string, string>, extra: Record<string, string> = {}) =>
    fetch(d.introspection_endpoint, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
      body: new URLSearchParams({ token: tokens.body.access_token, ...extra }).toString(),
    }).then(async (r) => ({ status: r.status, body: (await r.json()) as any }));
  const basic = (id: string, pw: string) => ({ authorization: `Basic ${Buffer.from(`${id}:${pw}`).toString('base64')}` });
  assert.equal((await ask(basic(BASIC_CLIENT, 'basic-secret-0123456789'))).body.active, true);
  assert.equal((await ask({}, { client_id: POST_CLIENT, client_secret: 'post-secret-0123456789' })).body.active, true);
  assert.equal((await ask(basic(BASIC_CLIENT, 'wrong'))).status, 401);
  assert.equal((await ask({}, { client_id: BASIC_CLIENT, client_secret: 'basic-secret-0123456789' })).status, 401, 'a client uses its own method');
  assert.equal((await ask({ authorization: `Basic ${Buffer.from('%zz:x').toString('base64')}` })).status, 401, 'garbage credentials are refused, not a crash');
});

test('a refresh token is never accepted where an access token is expected', async () => {
  const { params, verifier } = await authorize(new Browser(mauth.url), { client: native, scope: scopeFor(device()), username: 'alice', password: 'alice-password-1' });
  const tokens = await tokenRequest(mauth.url, { grant_type: 'authorization_code', code: params.get('code')!, redirect_uri: native.redirect_uri, client_id: native.client_id, code_verifier: verifier });
  assert.deepEqual((await introspect(mauth.url, mauth.secret, tokens.body.refresh_token)).body, { active: false });
});

test('introspection refuses a wrong secret and answers inactive for garbage', async () => {
  const wrong = await introspect(mauth.url, 'not-the-secret', 'mat_whatever');
  assert.equal(wrong.status, 401);
  assert.equal(wrong.body.error, 'invalid_client');
  const none = await fetch(`${mauth.url}/oauth2/introspect`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: 'token=abc',
  });
  assert.equal(none.status, 401);
  const garbage = await introspect(mauth.url, mauth.secret, 'garbage-token');
  assert.deepEqual(garbage.body, { active: false });
  const wellFormedUnknown = await introspect(mauth.url, mauth.secret, 'mat_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAA_000000');
  assert.deepEqual(wellFormedUnknown.body, { active: false });
});

test('bad authorization requests get the right OAuth error and never go to an unregistered URI', async () => {
  const browser = new Browser(mauth.url);
  const base = { client_id: native.client_id, redirect_uri: native.redirect_uri, scope: scopeFor(device()), state: 'st' };

  // public client without PKCE
  let res = await browser.get(`/authorize?${new URLSearchParams({ ...base, response_type: 'code' })}`);
  assert.equal(res.status, 303);
  let loc = new URL(res.headers.get('location')!);
  assert.ok(loc.href.startsWith(native.redirect_uri));
  assert.equal(loc.searchParams.get('error'), 'invalid_request');

  // implicit flow refused
  res = await browser.get(`/authorize?${new URLSearchParams({ ...base, response_type: 'token', code_challenge: 'x'.repeat(43), code_challenge_method: 'S256' })}`);
  loc = new URL(res.headers.get('location') ?? 'http://none/');
  assert.equal(loc.searchParams.get('error') ?? new URLSearchParams(loc.hash.slice(1)).get('error'), 'unsupported_response_type');

  // unregistered redirect_uri: an error page, no redirect
  res = await browser.get(`/authorize?${new URLSearchParams({ ...base, redirect_uri: 'https://evil.example.net/cb', response_type: 'code', code_challenge: 'x'.repeat(43), code_challenge_method: 'S256' })}`);
  assert.equal(res.status, 400);
  assert.equal(res.headers.get('location'), null);
  assert.match(await res.text(), /redirect_uri/);

  // reused code
  const { params, verifier } = await authorize(new Browser(mauth.url), { client: native, scope: scopeFor(device()), username: 'alice', password: 'alice-password-1' });
  const exchange = () =>
    tokenRequest(mauth.url, { grant_type: 'authorization_code', code: params.get('code')!, redirect_uri: native.redirect_uri, client_id: native.client_id, code_verifier: verifier });
  assert.equal((await exchange()).status, 200);
  const again = await exchange();
  assert.equal(again.status, 400);
  assert.equal(again.body.error, 'invalid_grant');
});

test('fifty concurrent exchanges of one code produce exactly one success', async () => {
  const { params, verifier } = await authorize(new Browser(mauth.url), { client: native, scope: scopeFor(device()), username: 'alice', password: 'alice-password-1' });
  const results = await Promise.all(
    Array.from({ length: 50 }, () =>
      tokenRequest(mauth.url, { grant_type: 'authorization_code', code: params.get('code')!, redirect_uri: native.redirect_uri, client_id: native.client_id, code_verifier: verifier }),
    ),
  );
  assert.equal(results.filter((r) => r.status === 200).length, 1);
  assert.ok(results.filter((r) => r.status !== 200).every((r) => r.status === 400 && r.body.error === 'invalid_grant'));
});

test('admin scope: granted to an admin who asks, refused at consent for others', async () => {
  const scope = `${scopeFor(device())} urn:synapse:admin:*`;
  const admin = await authorize(new Browser(mauth.url), { client: native, scope, username: 'root', password: 'root-password-1' });
  const tokens = await tokenRequest(mauth.url, { grant_type: 'authorization_code', code: admin.params.get('code')!, redirect_uri: native.redirect_uri, client_id: native.client_id, code_verifier: admin.verifier });
  assert.ok((await introspect(mauth.url, mauth.secret, tokens.body.access_token)).body.scope.split(' ').includes('urn:synapse:admin:*'));

  const plain = await authorize(new Browser(mauth.url), { client: native, scope: scopeFor(device()), username: 'root', password: 'root-password-1' });
  const plainTokens = await tokenRequest(mauth.url, { grant_type: 'authorization_code', code: plain.params.get('code')!, redirect_uri: native.redirect_uri, client_id: native.client_id, code_verifier: plain.verifier });
  assert.ok(!(await introspect(mauth.url, mauth.secret, plainTokens.body.access_token)).body.scope.includes('admin'), 'not unless asked');

  const refused = await authorize(new Browser(mauth.url), { client: native, scope, username: 'mallory', password: 'mallory-password-1', decision: 'allow' });
  assert.equal(refused.params.get('error'), 'access_denied');
  assert.equal(refused.params.get('code'), null);
  assert.match(refused.pages.at(-1)!, /administrator access/);
});

test('a locked user cannot log in and their tokens stop working', async () => {
  const { params, verifier } = await authorize(new Browser(mauth.url), { client: native, scope: scopeFor(device()), username: 'mallory', password: 'mallory-password-1' });
  const tokens = await tokenRequest(mauth.url, { grant_type: 'authorization_code', code: params.get('code')!, redirect_uri: native.redirect_uri, client_id: native.client_id, code_verifier: verifier });
  assert.equal((await introspect(mauth.url, mauth.secret, tokens.body.access_token)).body.active, true);
  const lock = await mauth.cli('manage', 'lock-user', 'mallory');
  assert.equal(lock.code, 0, lock.stderr);
  assert.equal((await introspect(mauth.url, mauth.secret, tokens.body.access_token)).body.active, false);
  const refresh = await tokenRequest(mauth.url, { grant_type: 'refresh_token', refresh_token: tokens.body.refresh_token, client_id: native.client_id });
  assert.notEqual(refresh.status, 200);
  await assert.rejects(
    authorize(new Browser(mauth.url), { client: native, scope: scopeFor(device()), username: 'mallory', password: 'mallory-password-1' }),
    /unexpected page \(403\)[\s\S]*locked/,
  );
});

test('malformed, oversized and mistyped bodies get a 4xx in each endpoint’s format', async () => {
  const big = 'x'.repeat(70 * 1024);
  const cases: { path: string; type: string; body: string; format: 'oauth' | 'html' }[] = [
    { path: '/oauth2/token', type: 'application/x-www-form-urlencoded', body: `grant_type=${big}`, format: 'oauth' },
    { path: '/oauth2/token', type: 'application/json', body: '{"grant_type":"authorization_code"}', format: 'oauth' },
    { path: '/oauth2/token', type: 'application/x-www-form-urlencoded', body: '%%%', format: 'oauth' },
    { path: '/oauth2/registration', type: 'application/json', body: '{not json', format: 'oauth' },
    { path: '/oauth2/registration', type: 'application/json', body: JSON.stringify({ client_name: big }), format: 'oauth' },
    { path: '/oauth2/registration', type: 'text/plain', body: 'hello', format: 'oauth' },
    { path: '/oauth2/registration', type: 'application/json', body: '[1,2]', format: 'oauth' },
    { path: '/oauth2/introspect', type: 'application/json', body: '{"token":"x"}', format: 'oauth' },
    { path: '/oauth2/introspect', type: 'application/x-www-form-urlencoded', body: `token=${big}`, format: 'oauth' },
    { path: '/oauth2/revoke', type: 'application/json', body: '{}', format: 'oauth' },
    { path: '/oauth2/revoke', type: 'application/x-www-form-urlencoded', body: big, format: 'oauth' },
    { path: '/login', type: 'application/x-www-form-urlencoded', body: big, format: 'html' },
    { path: '/login', type: 'application/json', body: '{"username":1}', format: 'html' },
    { path: '/interaction/nope/login', type: 'application/x-www-form-urlencoded', body: 'username=a&password=b', format: 'html' },
    { path: '/logout', type: 'application/x-www-form-urlencoded', body: 'csrf=wrong', format: 'html' },
  ];
  for (const c of cases) {
    const res = await fetch(`${mauth.url}${c.path}`, {
      method: 'POST',
      headers: { 'content-type': c.type, authorization: `Bearer ${mauth.secret}` },
      body: c.body,
    });
    const text = await res.text();
    assert.ok(res.status >= 400 && res.status < 500, `${c.path} ${c.type} → ${res.status} ${text.slice(0, 200)}`);
    if (c.format === 'oauth') assert.ok(typeof JSON.parse(text).error === 'string', `${c.path}: OAuth error JSON`);
    else assert.match(res.headers.get('content-type') ?? '', /text\/html/, `${c.path}: HTML error page`);
  }
});

test('HTML pages carry the security headers; /health and /metrics answer', async () => {
  const res = await fetch(`${mauth.url}/login`);
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('x-frame-options'), 'DENY');
  assert.match(res.headers.get('content-security-policy') ?? '', /frame-ancestors 'none'/);
  assert.equal(res.headers.get('referrer-policy'), 'no-referrer');
  assert.equal((await fetch(`${mauth.url}/health`)).status, 200);
  const metrics = await (await fetch(`${mauth.url}/metrics`)).text();
  assert.match(metrics, /mauth_http_requests_total\{[^}]*route="\/oauth2\/token"/);
  assert.match(metrics, /mauth_jobs_total/);
});


test('an existing browser session skips the login form; prompt=login and login_hint ask again', async () => {
  const browser = new Browser(mauth.url);
  const first = await authorize(browser, { client: native, scope: scopeFor(device()), username: 'alice', password: 'alice-password-1' });
  assert.ok(first.pages.some((p) => p.includes('name="password"')));
  const second = await authorize(browser, { client: native, scope: scopeFor(device()) });
  assert.ok(second.params.get('code'));
  assert.ok(second.pages.every((p) => !p.includes('name="password"')), 'no login form with a live session');
  const forced = await authorize(browser, {
    client: native,
    scope: scopeFor(device()),
    username: 'alice',
    password: 'alice-password-1',
    extra: { prompt: 'login', login_hint: `mxid:@alice:${SERVER_NAME}` },
  });
  assert.ok(forced.params.get('code'));
  assert.match(forced.pages[0], /name="password"/);
  assert.match(forced.pages[0], /name="username"[^>]*value="@alice:example.test"/);
});

test('the account page lists sessions and ends one, which the homeserver hears about', async () => {
  const browser = new Browser(mauth.url);
  const dev = device();
  const { params, verifier } = await authorize(browser, { client: native, scope: scopeFor(dev), username: 'alice', password: 'alice-password-1' });
  const tokens = await tokenRequest(mauth.url, { grant_type: 'authorization_code', code: params.get('code')!, redirect_uri: native.redirect_uri, client_id: native.client_id, code_verifier: verifier });
  const link = await browser.get(`/account/?action=org.matrix.session_view&device_id=${dev}`);
  assert.equal(link.status, 303, 'the deep link leads to the page of the session');
  const page = await browser.get(location(link));
  assert.equal(page.status, 200);
  const html = await page.text();
  assert.match(html, /@alice:example\.test/);
  assert.match(html, new RegExp(`id="session-${dev}" class="focus"`));
  const sessionForms = parseForms(html).filter((f) => f.action === '/account/sessions/end');
  const target = sessionForms[[...html.matchAll(/id="session-([^"]+)"/g)].findIndex((m) => m[1] === dev)];
  assert.ok(target, 'the session has a sign-out form');
  const ended = await browser.postForm(target.action, target.fields);
  assert.equal(ended.status, 200);
  assert.equal((await introspect(mauth.url, mauth.secret, tokens.body.access_token)).body.active, false);
  await hs.waitFor((c) => c.path.endsWith('/delete_device') && (c.body as any)?.device_id === dev, 5000);

  const anonymous = await fetch(`${mauth.url}/account/`, { redirect: 'manual' });
  assert.equal(anonymous.status, 303);
  assert.match(anonymous.headers.get('location') ?? '', /^\/login\?next=/);
});

test('no request in the suite produced a 5xx', () => {
  assert.doesNotMatch(mauth.output(), /"status":5\d\d|request failed|unhandled error|"level":50/);
});
