// Black box: legacy clients and bots against the compatibility layer, as Synapse's reverse proxy
// would route them, with introspection checked the way Synapse checks. The server runs in this
// process, so that login tokens can be let expire by moving its clock.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import postgres from 'postgres';
import type { HomeserverDouble } from '../support/homeserver-double.js';
import { Browser, location, parseForms } from '../support/http-client.js';
import { startInProcessSetup, type Setup } from '../support/homeserver-setup.js';
import type { InProcessMauth } from '../support/mauth-inprocess.js';
import { introspect } from '../support/oauth-client.js';

const SERVER_NAME = 'compat.test';

let setup: Setup<InProcessMauth>;
let hs: HomeserverDouble;
let mauth: InProcessMauth;

async function call(path: string, init: { method?: string; body?: unknown; token?: string; raw?: string; type?: string; headers?: Record<string, string> } = {}) {
  const res = await fetch(`${mauth.url}${path}`, {
    method: init.method ?? (init.body !== undefined || init.raw !== undefined ? 'POST' : 'GET'),
    headers: {
      ...(init.body !== undefined || init.raw !== undefined ? { 'content-type': init.type ?? 'application/json' } : {}),
      ...(init.token ? { authorization: `Bearer ${init.token}` } : {}),
      ...init.headers,
    },
    body: init.raw ?? (init.body !== undefined ? JSON.stringify(init.body) : undefined),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: text ? (JSON.parse(text) as any) : undefined };
}

const login = (body: Record<string, unknown>, headers?: Record<string, string>) => call('/_matrix/client/v3/login', { body, headers });
const password = (identifier: Record<string, unknown>, pw: string, extra: Record<string, unknown> = {}) =>
  login({ type: 'm.login.password', identifier, password: pw, ...extra });

before(async () => {
  setup = await startInProcessSetup({
    serverName: SERVER_NAME,
    extra: {
      account: { login_with_email_allowed: true },
      username_rewrite: { rules: [{ regex: '^[0-9]+$', medium: 'employee_id' }] },
    },
    users: ['carol', 'dave', 'erin', 'frank'].map((name) => ({ name, password: `${name}-pw-1`, email: `${name}@example.test` })),
    beforeStart: async ({ cli }) => assert.equal((await cli('manage', 'add-threepid', 'carol', 'employee_id', '4711')).code, 0),
  });
  ({ hs, mauth } = setup);
});

after(() => setup?.stop());

/** The double saw the device created before the answer arrived. */
function assertDeviceCreatedBefore(localpart: string, deviceId: string, answeredAt: Date) {
  const upsert = hs.calls.find((c) => c.path.endsWith('/upsert_device') && (c.body as any)?.localpart === localpart && (c.body as any)?.device_id === deviceId);
  assert.ok(upsert, `upsert_device for ${deviceId}`);
  assert.ok(upsert.at.getTime() <= answeredAt.getTime());
}

test('GET /login lists password, SSO (OAuth-aware) and token flows', async () => {
  for (const v of ['r0', 'v3']) {
    const { status, body } = await call(`/_matrix/client/${v}/login`);
    assert.equal(status, 200);
    const types = body.flows.map((f: { type: string }) => f.type);
    assert.deepEqual(types, ['m.login.password', 'm.login.sso', 'm.login.token']);
    const sso = body.flows[1];
    assert.equal(sso.oauth_aware_preferred, true);
    assert.equal(sso['org.matrix.msc3824.delegated_oidc_compatibility'], true);
  }
});

test('password login by localpart, full MXID, upper-case name, e-mail and employee number', async () => {
  const cases: [Record<string, unknown>, string, string][] = [
    [{ type: 'm.id.user', user: 'carol' }, 'carol-pw-1', 'carol'],
    [{ type: 'm.id.user', user: `@carol:${SERVER_NAME}` }, 'carol-pw-1', 'carol'],
    [{ type: 'm.id.user', user: 'CaRoL' }, 'carol-pw-1', 'carol'],
    [{ type: 'm.id.thirdparty', medium: 'email', address: 'Dave@Example.test' }, 'dave-pw-1', 'dave'],
    [{ type: 'm.id.user', user: '4711' }, 'carol-pw-1', 'carol'],
  ];
  for (const [identifier, pw, who] of cases) {
    const res = await password(identifier, pw, { initial_device_display_name: 'Bot' });
    const answeredAt = new Date();
    assert.equal(res.status, 200, `${JSON.stringify(identifier)}: ${JSON.stringify(res.body)}`);
    assert.equal(res.body.user_id, `@${who}:${SERVER_NAME}`);
    assert.match(res.body.access_token, /^mct_[A-Za-z0-9]{30}_[A-Za-z0-9]{6}$/);
    assert.match(res.body.device_id, /^[A-Z]{10}$/);
    assert.equal(res.body.refresh_token, undefined);
    assertDeviceCreatedBefore(who, res.body.device_id, answeredAt);
    const info = await introspect(mauth.url, mauth.secret, res.body.access_token);
    assert.equal(info.body.active, true);
    assert.equal(info.body.client_id, 'legacy');
    assert.equal(info.body.username, who);
    assert.equal(info.body.device_id, res.body.device_id);
    assert.equal(info.body.expires_in, undefined, 'a token that never expires has no expires_in');
    assert.ok(info.body.scope.split(' ').includes('urn:matrix:client:api:*'));
    assert.ok(info.body.scope.split(' ').includes('urn:matrix:org.matrix.msc2967.client:api:*'));
    assert.ok(!info.body.scope.includes('admin'));
    // Without X-MAS-Supports-Device-Id the device travels as a scope.
    const old = await introspect(mauth.url, mauth.secret, res.body.access_token, { 'x-mas-supports-device-id': '0' });
    assert.equal(old.body.device_id, undefined);
    assert.ok(old.body.scope.split(' ').includes(`urn:matrix:client:device:${res.body.device_id}`));
  }
  // The legacy `user` field still works.
  assert.equal((await login({ type: 'm.login.password', user: 'carol', password: 'carol-pw-1' })).status, 200);
});

test('refresh rotates both tokens and kills the old access token at once; logout deletes the device', async () => {
  const res = await password({ type: 'm.id.user', user: 'dave' }, 'dave-pw-1', { device_id: 'DAVEPHONE1', refresh_token: true });
  assert.equal(res.status, 200);
  assert.equal(res.body.device_id, 'DAVEPHONE1');
  assert.match(res.body.refresh_token, /^mcr_/);
  assert.equal(res.body.expires_in_ms, 300_000);
  const info = await introspect(mauth.url, mauth.secret, res.body.access_token);
  assert.ok(Number.isInteger(info.body.expires_in) && info.body.expires_in > 0);

  const next = await call('/_matrix/client/v3/refresh', { body: { refresh_token: res.body.refresh_token } });
  assert.equal(next.status, 200, JSON.stringify(next.body));
  assert.notEqual(next.body.access_token, res.body.access_token);
  assert.notEqual(next.body.refresh_token, res.body.refresh_token);
  assert.equal(next.body.expires_in_ms, 300_000);
  assert.equal((await introspect(mauth.url, mauth.secret, res.body.access_token)).body.active, false);
  assert.equal((await introspect(mauth.url, mauth.secret, next.body.access_token)).body.active, true);

  const reused = await call('/_matrix/client/v3/refresh', { body: { refresh_token: res.body.refresh_token } });
  assert.equal(reused.status, 401);
  assert.equal(reused.body.errcode, 'M_UNKNOWN_TOKEN');

  const out = await call('/_matrix/client/v3/logout', { method: 'POST', token: next.body.access_token });
  assert.equal(out.status, 200);
  assert.equal((await introspect(mauth.url, mauth.secret, next.body.access_token)).body.active, false);
  await hs.waitFor((c) => c.path.endsWith('/delete_device') && (c.body as any)?.device_id === 'DAVEPHONE1', 5000);
  const again = await call('/_matrix/client/v3/logout', { method: 'POST', token: next.body.access_token });
  assert.equal(again.body.errcode, 'M_UNKNOWN_TOKEN');
});

test('concurrent logins on one new device id all succeed and leave one live session', async () => {
  const results = await Promise.all(Array.from({ length: 8 }, () => password({ type: 'm.id.user', user: 'erin' }, 'erin-pw-1', { device_id: 'ERINRACE01' })));
  assert.deepEqual(results.map((r) => r.status), Array(8).fill(200));
  const active = [];
  for (const r of results) if ((await introspect(mauth.url, mauth.secret, r.body.access_token)).body.active) active.push(r);
  assert.equal(active.length, 1);
});

test('a second login on the same device replaces the earlier session', async () => {
  const first = await password({ type: 'm.id.user', user: 'erin' }, 'erin-pw-1', { device_id: 'ERINLAPTOP' });
  const second = await password({ type: 'm.id.user', user: 'erin' }, 'erin-pw-1', { device_id: 'ERINLAPTOP' });
  assert.equal(second.status, 200);
  assert.equal((await introspect(mauth.url, mauth.secret, first.body.access_token)).body.active, false);
  assert.equal((await introspect(mauth.url, mauth.secret, second.body.access_token)).body.active, true);
});

test('logout/all ends every legacy session of the user, only when the client accepts that', async () => {
  const a = await password({ type: 'm.id.user', user: 'frank' }, 'frank-pw-1');
  const b = await password({ type: 'm.id.user', user: 'frank' }, 'frank-pw-1');
  const refused = await call('/_matrix/client/v3/logout/all', { body: {}, token: a.body.access_token });
  assert.equal(refused.status, 400);
  assert.equal(refused.body.errcode, 'M_UNRECOGNIZED');
  assert.equal((await introspect(mauth.url, mauth.secret, b.body.access_token)).body.active, true);
  const ok = await call('/_matrix/client/v3/logout/all', { body: { 'io.element.only_compat_is_fine': true }, token: a.body.access_token });
  assert.equal(ok.status, 200);
  for (const t of [a, b]) {
    assert.equal((await introspect(mauth.url, mauth.secret, t.body.access_token)).body.active, false);
    await hs.waitFor((c) => c.path.endsWith('/delete_device') && (c.body as any)?.device_id === t.body.device_id, 5000);
  }
});

test('m.login.sso: browser login, a confirmation naming the target host, then a single-use login token', async () => {
  const browser = new Browser(mauth.url);
  const redirectUrl = 'https://client.example.org/after-login?x=1';
  let res = await browser.get(`/_matrix/client/v3/login/sso/redirect?redirectUrl=${encodeURIComponent(redirectUrl)}`);
  assert.equal(res.status, 303);
  res = await browser.get(location(res));
  assert.equal(res.status, 303, 'not signed in: off to the login form');
  res = await browser.get(location(res));
  const loginForm = parseForms(await res.text()).find((f) => f.action.startsWith('/login'))!;
  res = await browser.postForm(loginForm.action, { ...loginForm.fields, username: 'Carol', password: 'carol-pw-1' });
  assert.equal(res.status, 303);
  res = await browser.get(location(res));
  assert.equal(res.status, 200);
  const html = await res.text();
  assert.match(html, /client\.example\.org/, 'the confirmation names the host the token goes to');
  const confirm = parseForms(html)[0];
  res = await browser.postForm(confirm.action, { ...confirm.fields, decision: 'continue' });
  assert.equal(res.status, 303);
  const target = new URL(location(res));
  assert.equal(target.origin + target.pathname, 'https://client.example.org/after-login');
  assert.equal(target.searchParams.get('x'), '1');
  const token = target.searchParams.get('loginToken')!;
  assert.ok(token);

  const exchanged = await login({ type: 'm.login.token', token });
  assert.equal(exchanged.status, 200, JSON.stringify(exchanged.body));
  assert.equal(exchanged.body.user_id, `@carol:${SERVER_NAME}`);
  assertDeviceCreatedBefore('carol', exchanged.body.device_id, new Date());
  assert.equal((await introspect(mauth.url, mauth.secret, exchanged.body.access_token)).body.active, true);

  const replay = await login({ type: 'm.login.token', token });
  assert.equal(replay.status, 403);
  assert.equal(replay.body.errcode, 'M_FORBIDDEN');

  // A login token is good for 30 s after the browser side completed.
  let late = await browser.get(`/_matrix/client/v3/login/sso/redirect?redirectUrl=${encodeURIComponent(redirectUrl)}`);
  late = await browser.get(location(late));
  const lateForm = parseForms(await late.text())[0];
  late = await browser.postForm(lateForm.action, { ...lateForm.fields, decision: 'continue' });
  const lateToken = new URL(location(late)).searchParams.get('loginToken')!;
  await mauth.advance(31);
  const expired = await login({ type: 'm.login.token', token: lateToken });
  assert.equal(expired.status, 403);
  assert.equal(expired.body.errcode, 'M_FORBIDDEN');

  // The confirmation cannot be replayed either.
  const second = await browser.postForm(confirm.action, { ...confirm.fields, decision: 'continue' });
  assert.equal(second.status, 400);

  const bad = await call(`/_matrix/client/v3/login/sso/redirect?redirectUrl=${encodeURIComponent('javascript:alert(1)')}`);
  assert.equal(bad.status, 400);
  assert.equal(bad.body.errcode, 'M_INVALID_PARAM');
});

test('issue-compatibility-token prints a working token; the admin flag gives the Synapse admin scope', async () => {
  const plain = await mauth.cli('manage', 'issue-compatibility-token', 'erin');
  assert.equal(plain.code, 0, plain.stderr);
  const token = plain.stdout.trim();
  const info = await introspect(mauth.url, mauth.secret, token);
  assert.equal(info.body.active, true);
  assert.ok(!info.body.scope.includes('urn:synapse:admin:*'));
  const admin = await mauth.cli('manage', 'issue-compatibility-token', 'erin', 'ERINADMIN1', '--yes-i-want-to-grant-synapse-admin-privileges');
  assert.equal(admin.code, 0, admin.stderr);
  const adminInfo = await introspect(mauth.url, mauth.secret, admin.stdout.trim());
  assert.ok(adminInfo.body.scope.split(' ').includes('urn:synapse:admin:*'));
  assert.equal(adminInfo.body.device_id, 'ERINADMIN1');
  assert.ok(hs.devices('erin').has('ERINADMIN1'));
});

describe('errors are Matrix JSON with the right status and errcode', () => {
  const cases: [string, () => ReturnType<typeof call>, number, string][] = [
    ['wrong password', () => password({ type: 'm.id.user', user: 'carol' }, 'nope'), 403, 'M_FORBIDDEN'],
    ['unknown user', () => password({ type: 'm.id.user', user: 'nobody' }, 'nope'), 403, 'M_FORBIDDEN'],
    ['unknown e-mail', () => password({ type: 'm.id.thirdparty', medium: 'email', address: 'x@y.z' }, 'nope'), 403, 'M_FORBIDDEN'],
    ['missing password', () => login({ type: 'm.login.password', identifier: { type: 'm.id.user', user: 'carol' } }), 400, 'M_BAD_JSON'],
    ['missing identifier', () => login({ type: 'm.login.password', password: 'x' }), 400, 'M_BAD_JSON'],
    ['missing type', () => login({ user: 'carol', password: 'x' }), 400, 'M_BAD_JSON'],
    ['invalid JSON', () => call('/_matrix/client/v3/login', { raw: '{"type":' }), 400, 'M_NOT_JSON'],
    ['wrong content type', () => call('/_matrix/client/v3/login', { raw: 'type=m.login.password', type: 'application/x-www-form-urlencoded' }), 400, 'M_NOT_JSON'],
    ['JSON that is not an object', () => call('/_matrix/client/v3/login', { raw: '[1]' }), 400, 'M_BAD_JSON'],
    ['unknown login type', () => login({ type: 'm.login.foo' }), 400, 'M_UNKNOWN'],
    ['application service login', () => login({ type: 'm.login.application_service', identifier: { type: 'm.id.user', user: 'carol' } }), 400, 'M_UNKNOWN'],
    ['bad login token', () => login({ type: 'm.login.token', token: 'nope' }), 403, 'M_FORBIDDEN'],
    ['bad refresh token', () => call('/_matrix/client/v3/refresh', { body: { refresh_token: 'mcr_nope' } }), 401, 'M_UNKNOWN_TOKEN'],
    ['missing token on logout', () => call('/_matrix/client/v3/logout', { method: 'POST' }), 401, 'M_MISSING_TOKEN'],
    ['unknown token on logout', () => call('/_matrix/client/v3/logout', { method: 'POST', token: 'mct_nope' }), 401, 'M_UNKNOWN_TOKEN'],
    ['a device id that is not one scope token', () => password({ type: 'm.id.user', user: 'carol' }, 'carol-pw-1', { device_id: 'X urn:synapse:admin:*' }), 400, 'M_INVALID_PARAM'],
    ['oversized body', () => call('/_matrix/client/v3/login', { raw: JSON.stringify({ type: 'x'.repeat(70 * 1024) }) }), 413, 'M_TOO_LARGE'],
  ];
  for (const [name, run, status, errcode] of cases) {
    test(name, async () => {
      const res = await run();
      assert.equal(res.status, status, JSON.stringify(res.body));
      assert.equal(res.body.errcode, errcode);
      assert.equal(typeof res.body.error, 'string');
    });
  }

  test('locked and deactivated accounts', async () => {
    const refreshable = await password({ type: 'm.id.user', user: 'frank' }, 'frank-pw-1', { refresh_token: true, device_id: 'FRANKBOT01' });
    assert.equal(refreshable.status, 200);
    assert.equal((await mauth.cli('manage', 'lock-user', 'frank')).code, 0);
    const refresh = await call('/_matrix/client/v3/refresh', { body: { refresh_token: refreshable.body.refresh_token } });
    assert.equal(refresh.status, 401, 'a locked user cannot refresh');
    assert.equal(refresh.body.errcode, 'M_UNKNOWN_TOKEN');
    await mauth.jobsSettled();
    assert.ok(hs.devices('frank').has('FRANKBOT01'), 'locking keeps the devices, so unlocking gives them back');
    const locked = await password({ type: 'm.id.user', user: 'frank' }, 'frank-pw-1');
    assert.equal(locked.status, 401);
    assert.equal(locked.body.errcode, 'M_USER_LOCKED');
    const sql = postgres(mauth.databaseUrl, { max: 1, onnotice: () => {} });
    await sql`UPDATE users SET deactivated_at = now() WHERE username = 'erin'`;
    await sql.end();
    const gone = await password({ type: 'm.id.user', user: 'erin' }, 'erin-pw-1');
    assert.equal(gone.status, 403);
    assert.equal(gone.body.errcode, 'M_USER_DEACTIVATED');
  });
});

test('no request produced a 5xx', () => {
  assert.doesNotMatch(mauth.output(), /request failed|unhandled error|"level":50/);
});
