// Black box: the device authorization grant (RFC 8628) as MAS serves it, what QR login runs on.
// A Matrix client (matrix-js-sdk's discovery and token checks, and its device-grant requests; see
// device-grant-client.ts) registers, starts the grant and polls; a cookie-jar browser signs in on
// /link, types the code and decides. The server runs in this process on a clock the test moves:
// the client's waits between polls move it too, so expiry and slow_down need no sleeping.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import postgres from 'postgres';
import { DEVICE_GRANT, OAuth2, discover, type AuthMetadata, generateScope, validateBearerTokenResponse, type DeviceAuthorizationResponse } from '../support/device-grant-client.js';
import { startHomeserverDouble, type HomeserverDouble } from '../support/homeserver-double.js';
import { Browser, location, parseForms } from '../support/http-client.js';
import { createInProcessMauth, type InProcessMauth } from '../support/mauth-inprocess.js';
import { introspect, registerClient, tokenRequest } from '../support/oauth-client.js';

const SERVER_NAME = 'device.test';
const device = () => `DEV${randomBytes(5).toString('hex').toUpperCase()}`;

let hs: HomeserverDouble;
let mauth: InProcessMauth;
let db: postgres.Sql;
let metadata: AuthMetadata;
let clientId: string;

before(async () => {
  const secret = randomBytes(16).toString('hex');
  hs = await startHomeserverDouble({ secret, serverName: SERVER_NAME });
  mauth = await createInProcessMauth({
    homeserverUrl: hs.url,
    serverName: SERVER_NAME,
    secret,
    extra: {
      rate_limiting: {
        login: { per_ip: { burst: 10000, per_second: 1000 }, per_account: { burst: 10000, per_second: 1000 } },
        device_code_link: { burst: 10000, per_second: 1000 },
      },
    },
  });
  for (const [name, extra] of [['alice', []], ['root', ['--admin']], ['bob', []]] as const) {
    const r = await mauth.cli('manage', 'register-user', name, '--password', `${name}-password-1`, ...extra, '--yes');
    assert.equal(r.code, 0, r.stderr);
  }
  db = postgres(mauth.databaseUrl, { max: 2, onnotice: () => {} });
  await mauth.start();
  metadata = await discover(`${mauth.url}/`);
  clientId = await OAuth2.registerClient(metadata, {
    client_name: 'Element X',
    client_uri: 'https://element.example.org/',
    application_type: 'native',
    redirect_uris: ['org.example.element:/callback'],
  });
});

after(async () => {
  await db?.end();
  await mauth?.stop();
  await mauth?.drop();
  await hs?.stop();
});

/** The client as the SDK runs it, its waits between polls moving the server's clock. */
function sdkClient(id = clientId, deviceId = device()): OAuth2 {
  return new OAuth2(metadata, id, deviceId, {
    wait: async (ms) => mauth.clock.advance(ms / 1000),
    now: () => mauth.clock.now().getTime(),
  });
}

function poll(session: DeviceAuthorizationResponse, id = clientId) {
  return tokenRequest(mauth.url, { grant_type: DEVICE_GRANT, device_code: session.device_code, client_id: id });
}

interface LinkOptions {
  username?: string;
  action?: 'consent' | 'reject';
  confirm?: boolean;
}

/** What a person does in the browser: /link, the code (typed in lower case), sign-in if asked, the decision. */
async function decideOnLink(browser: Browser, userCode: string, options: LinkOptions = {}): Promise<{ status: number; html: string; consentPath: string }> {
  const page = await browser.get('/link');
  assert.equal(page.status, 200);
  const linkForm = parseForms(await page.text()).find((f) => f.action === '/link');
  assert.ok(linkForm, 'the /link page has a form posting the code');
  let res = await browser.postForm('/link', { ...linkForm.fields, code: userCode.toLowerCase() });
  assert.equal(res.status, 303, `the code leads on (${res.status})`);
  const consentPath = location(res);
  assert.match(consentPath, /^\/device\/[0-9A-Z]{26}$/);
  res = await browser.get(consentPath);
  if (res.status === 303) {
    const login = location(res);
    assert.equal(login, `/login?next=${encodeURIComponent(consentPath)}`, 'signing in comes back to the request');
    const loginPage = await browser.get(login);
    const form = parseForms(await loginPage.text()).find((f) => 'password' in f.fields);
    assert.ok(form, 'a login form');
    const username = options.username ?? 'alice';
    res = await browser.postForm(form.action, { ...form.fields, username, password: `${username}-password-1` });
    assert.equal(location(res), consentPath);
    res = await browser.get(consentPath);
  }
  const consent = await res.text();
  assert.equal(res.status, 200, consent.slice(0, 400));
  const form = parseForms(consent).find((f) => f.action === consentPath);
  assert.ok(form, 'a consent form');
  res = await browser.postForm(consentPath, {
    csrf: form.fields.csrf,
    action: options.action ?? 'consent',
    ...(options.confirm === false ? {} : { confirm_device: 'on' }),
  });
  return { status: res.status, html: await res.text(), consentPath };
}

describe('the device authorization endpoint', () => {
  test('answers as MAS: a 32-character device code, a 6-character user code, /link, 1200 s, 5 s, not cached', async () => {
    const res = await fetch(metadata.device_authorization_endpoint!, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', origin: 'https://app.element.io' },
      body: new URLSearchParams({ client_id: clientId, scope: generateScope(device()) }),
    });
    const body = (await res.json()) as Record<string, unknown>;
    assert.equal(res.status, 200, JSON.stringify(body));
    assert.match(String(body.device_code), /^[A-Za-z0-9]{32}$/);
    assert.match(String(body.user_code), /^[A-Z0-9]{6}$/);
    assert.equal(body.verification_uri, `${mauth.url}/link`);
    assert.ok(!('verification_uri_complete' in body), 'no auto-fill link unless the operator turns it on');
    assert.equal(body.expires_in, 1200);
    assert.equal(body.interval, 5);
    assert.match(res.headers.get('cache-control') ?? '', /no-store/);
    assert.equal(res.headers.get('access-control-allow-origin'), '*', 'browser clients may call it');
  });

  test('discovery advertises the endpoint and the grant; registration keeps the grant', async () => {
    assert.equal(metadata.device_authorization_endpoint, `${mauth.url}/oauth2/device`);
    assert.ok(metadata.grant_types_supported.includes(DEVICE_GRANT));
    const res = await registerClient(mauth.url, {
      client_uri: 'https://tv.example.org/',
      token_endpoint_auth_method: 'none',
      grant_types: [DEVICE_GRANT],
      response_types: [],
    });
    const body = (await res.json()) as { grant_types: string[] };
    assert.equal(res.status, 201, JSON.stringify(body));
    assert.deepEqual(body.grant_types, [DEVICE_GRANT]);
  });

  test('an unknown client gets 401 invalid_client, a client without the grant 401 unauthorized_client', async () => {
    const unknown = await fetch(`${mauth.url}/oauth2/device`, { method: 'POST', body: new URLSearchParams({ client_id: 'nobody' }) });
    assert.equal(unknown.status, 401);
    assert.equal(((await unknown.json()) as { error: string }).error, 'invalid_client');

    const reg = await registerClient(mauth.url, {
      client_uri: 'https://web.example.org/',
      redirect_uris: ['https://web.example.org/cb'],
      token_endpoint_auth_method: 'none',
      grant_types: ['authorization_code'],
      response_types: ['code'],
    });
    const codeOnly = ((await reg.json()) as { client_id: string }).client_id;
    const refused = await fetch(`${mauth.url}/oauth2/device`, { method: 'POST', body: new URLSearchParams({ client_id: codeOnly }) });
    assert.equal(refused.status, 401);
    assert.equal(((await refused.json()) as { error: string }).error, 'unauthorized_client');
    const token = await tokenRequest(mauth.url, { grant_type: DEVICE_GRANT, device_code: 'x'.repeat(32), client_id: codeOnly });
    assert.deepEqual([token.status, token.body.error], [401, 'unauthorized_client']);
  });

  test('a confidential client authenticates as at the token endpoint', async () => {
    const reg = await registerClient(mauth.url, {
      client_uri: 'https://box.example.org/',
      token_endpoint_auth_method: 'client_secret_basic',
      grant_types: [DEVICE_GRANT],
      response_types: [],
    });
    const { client_id, client_secret } = (await reg.json()) as { client_id: string; client_secret: string };
    const ask = (secret: string) =>
      fetch(`${mauth.url}/oauth2/device`, {
        method: 'POST',
        headers: { authorization: `Basic ${Buffer.from(`${client_id}:${secret}`).toString('base64')}` },
        body: new URLSearchParams({ scope: 'openid' }),
      });
    assert.equal((await ask(client_secret)).status, 200);
    const wrong = await ask('not-the-secret');
    assert.equal(wrong.status, 401);
    assert.equal(((await wrong.json()) as { error: string }).error, 'invalid_client');
    const none = await fetch(`${mauth.url}/oauth2/device`, { method: 'POST', body: new URLSearchParams({ client_id }) });
    assert.equal(none.status, 401, 'no secret, no codes');
  });

  test('device and user codes are stored only as hashes', async () => {
    const session = await sdkClient().startDeviceAuthorizationGrant();
    const rows = await db`SELECT * FROM oauth2_device_code_grants`;
    assert.ok(rows.length > 0);
    const stored = JSON.stringify(rows) + JSON.stringify(await db`SELECT payload FROM oidc_payloads`);
    assert.ok(!stored.includes(session.device_code), 'no device code in the clear');
    assert.ok(!stored.toUpperCase().includes(session.user_code), 'no user code in the clear');
  });
});

describe('signing in a device', () => {
  test('the SDK gets tokens once the user approves on /link; the device exists on the homeserver before the answer', async () => {
    const deviceId = device();
    const oauth = sdkClient(clientId, deviceId);
    const session = await oauth.startDeviceAuthorizationGrant();
    assert.equal((await poll(session)).body.error, 'authorization_pending');
    const quick = await poll(session);
    assert.deepEqual([quick.status, quick.body.error], [403, 'slow_down'], 'a second poll right away');

    const browser = new Browser(mauth.url);
    const decided = await decideOnLink(browser, session.user_code);
    assert.equal(decided.status, 200);
    assert.match(decided.html, /Device allowed/);

    // Synapse stalls on upsert_device: the token answer must wait for it.
    const release = hs.hold('upsert_device');
    let answered = false;
    const waiting = oauth.waitForDeviceAuthorizationGrant(session).finally(() => (answered = true));
    const deadline = Date.now() + 10_000;
    while (hs.inFlight('upsert_device') < 1) {
      assert.ok(Date.now() < deadline, 'the token request reached the homeserver');
      await sleep(20);
    }
    assert.equal(answered, false, 'no tokens before the device exists');
    release();
    const tokens = await waiting;
    assert.ok('access_token' in tokens, JSON.stringify(tokens));
    validateBearerTokenResponse(tokens);
    assert.match(tokens.access_token, /^mat_[A-Za-z0-9]{30}_[A-Za-z0-9]{6}$/);
    assert.match(tokens.refresh_token!, /^mar_[A-Za-z0-9]{30}_[A-Za-z0-9]{6}$/);
    assert.ok(tokens.scope!.split(' ').includes(`urn:matrix:client:device:${deviceId}`), tokens.scope);
    const upsert = hs.calls.find((c) => c.path.endsWith('/upsert_device') && (c.body as { device_id?: string }).device_id === deviceId);
    assert.ok(upsert, 'upsert_device for the new device');
    assert.deepEqual(upsert.body, { localpart: 'alice', device_id: deviceId, display_name: 'Element X' });

    const info = await introspect(mauth.url, mauth.secret, tokens.access_token);
    assert.equal(info.body.active, true);
    assert.equal(info.body.username, 'alice');
    assert.equal(info.body.device_id, deviceId);
    assert.equal(info.body.client_id, clientId);

    // Exchanged once only.
    const again = await poll(session);
    assert.deepEqual([again.status, again.body.error], [400, 'invalid_grant']);

    // The session is an ordinary one: it refreshes, and revoking it removes the device.
    const refreshed = await tokenRequest(mauth.url, { grant_type: 'refresh_token', refresh_token: tokens.refresh_token!, client_id: clientId });
    assert.equal(refreshed.status, 200, JSON.stringify(refreshed.body));
    assert.equal((await introspect(mauth.url, mauth.secret, refreshed.body.access_token)).body.device_id, deviceId);
    const revoked = await fetch(`${mauth.url}/oauth2/revoke`, { method: 'POST', body: new URLSearchParams({ token: refreshed.body.refresh_token, client_id: clientId }) });
    assert.equal(revoked.status, 200);
    assert.equal((await introspect(mauth.url, mauth.secret, refreshed.body.access_token)).body.active, false);
    await hs.waitFor((c) => c.path.endsWith('/delete_device') && (c.body as { device_id?: string }).device_id === deviceId, 10_000);
  });

  test('a rejected request ends the polling with access_denied', async () => {
    const oauth = sdkClient();
    const session = await oauth.startDeviceAuthorizationGrant();
    const decided = await decideOnLink(new Browser(mauth.url), session.user_code, { action: 'reject' });
    assert.equal(decided.status, 200);
    assert.match(decided.html, /Sign-in denied/);
    const answer = await oauth.waitForDeviceAuthorizationGrant(session);
    assert.equal((answer as { error?: string }).error, 'access_denied');
    const raw = await poll(session);
    assert.deepEqual([raw.status, raw.body.error], [403, 'access_denied']);
  });

  test('a code nobody approves expires after 20 minutes of the server clock: expired_token, and /link no longer knows it', async () => {
    const oauth = sdkClient();
    const session = await oauth.startDeviceAuthorizationGrant();
    const pending = await poll(session);
    assert.deepEqual([pending.status, pending.body.error], [403, 'authorization_pending']);
    await mauth.advance(1199);
    assert.equal((await poll(session)).body.error, 'authorization_pending', 'a second before its end');
    await mauth.advance(1);
    const answer = await oauth.waitForDeviceAuthorizationGrant(session);
    assert.equal((answer as { error?: string }).error, 'expired_token', 'the SDK stops at the first answer');
    const raw = await poll(session);
    assert.deepEqual([raw.status, raw.body.error], [403, 'expired_token']);
    const browser = new Browser(mauth.url);
    const form = parseForms(await (await browser.get('/link')).text())[0];
    const res = await browser.postForm('/link', { ...form.fields, code: session.user_code });
    assert.equal(res.status, 400);
    assert.match(await res.text(), /not valid or has expired/);
  });

  test('polling faster than the interval gets slow_down (403), keeping the interval gets authorization_pending', async () => {
    const session = await sdkClient().startDeviceAuthorizationGrant();
    const first = await poll(session);
    assert.deepEqual([first.status, first.body.error], [403, 'authorization_pending']);
    const fast = await poll(session);
    assert.deepEqual([fast.status, fast.body.error], [403, 'slow_down']);
    mauth.clock.advance(5);
    const onTime = await poll(session);
    assert.deepEqual([onTime.status, onTime.body.error], [403, 'authorization_pending']);
  });

  test('a device code is good only for the client it was issued to; an unknown one is invalid_grant', async () => {
    const session = await sdkClient().startDeviceAuthorizationGrant(`openid ${generateScope(device())}`);
    const other = await OAuth2.registerClient(metadata, { client_uri: 'https://other.example.org/', redirect_uris: ['org.example.other:/cb'], application_type: 'native' });
    await decideOnLink(new Browser(mauth.url), session.user_code);
    const foreign = await poll(session, other);
    assert.deepEqual([foreign.status, foreign.body.error], [400, 'invalid_grant']);
    const unknown = await tokenRequest(mauth.url, { grant_type: DEVICE_GRANT, device_code: 'A'.repeat(32), client_id: clientId });
    assert.deepEqual([unknown.status, unknown.body.error], [400, 'invalid_grant']);
    const missing = await tokenRequest(mauth.url, { grant_type: DEVICE_GRANT, client_id: clientId });
    assert.deepEqual([missing.status, missing.body.error], [400, 'invalid_request']);
    const tokens = await poll(session);
    assert.equal(tokens.status, 200, 'its own client still gets the tokens');
    // With openid, an ID token as from the code grant.
    const claims = JSON.parse(Buffer.from(tokens.body.id_token.split('.')[1], 'base64url').toString()) as Record<string, unknown>;
    assert.equal(claims.aud, clientId);
    assert.equal(claims.iss, `${mauth.url}/`);
    assert.equal(typeof claims.sub, 'string');
  });

  test('an approval whose account was locked before the exchange gives no tokens', async () => {
    const session = await sdkClient().startDeviceAuthorizationGrant();
    assert.equal((await decideOnLink(new Browser(mauth.url), session.user_code, { username: 'bob' })).status, 200);
    const r = await mauth.cli('manage', 'lock-user', 'bob');
    assert.equal(r.code, 0, r.stderr);
    const answer = await poll(session);
    assert.deepEqual([answer.status, answer.body.error], [400, 'invalid_grant']);
  });

  test('admin scopes only for users allowed admin; one device scope at most', async () => {
    const adminScope = `${generateScope(device())} urn:synapse:admin:*`;
    const asAlice = await sdkClient().startDeviceAuthorizationGrant(adminScope);
    const browser = new Browser(mauth.url);
    const refused = await decideOnLink(browser, asAlice.user_code);
    assert.equal(refused.status, 403, 'alice may not approve admin access');
    const stillPending = await poll(asAlice);
    assert.deepEqual([stillPending.status, stillPending.body.error], [403, 'authorization_pending']);

    const asRoot = await sdkClient().startDeviceAuthorizationGrant(adminScope);
    const approved = await decideOnLink(new Browser(mauth.url), asRoot.user_code, { username: 'root' });
    assert.equal(approved.status, 200);
    const tokens = await poll(asRoot);
    assert.equal(tokens.status, 200, JSON.stringify(tokens.body));
    assert.ok(tokens.body.scope.split(' ').includes('urn:synapse:admin:*'));

    const twoDevices = await sdkClient().startDeviceAuthorizationGrant(`${generateScope(device())} urn:matrix:client:device:${device()}`);
    const linkForm = parseForms(await (await browser.get('/link')).text())[0];
    const page = await browser.postForm('/link', { ...linkForm.fields, code: twoDevices.user_code });
    const consent = await (await browser.get(location(page))).text();
    assert.match(consent, /only one device scope is allowed/);
  });
});

describe('the /link and consent pages', () => {
  test('a code is refused without the form token (CSRF); a wrong code is a 400 form error', async () => {
    const session = await sdkClient().startDeviceAuthorizationGrant();
    const browser = new Browser(mauth.url);
    const page = await (await browser.get('/link')).text();
    assert.match(page, /<label for="code">/);
    const forged = await browser.postForm('/link', { code: session.user_code });
    assert.equal(forged.status, 403);
    const form = parseForms(page)[0];
    const wrong = await browser.postForm('/link', { ...form.fields, code: 'ZZZZZZ' });
    assert.equal(wrong.status, 400);
    assert.match(await wrong.text(), /role="alert"[^>]*>This code is not valid/);
    const garbage = await browser.postForm('/link', { ...form.fields, code: '<script>'.repeat(50) });
    assert.equal(garbage.status, 400);
  });

  test('consent needs the confirm_device box and its form token; the page names the client and the new device', async () => {
    const deviceId = device();
    const session = await sdkClient(clientId, deviceId).startDeviceAuthorizationGrant();
    const browser = new Browser(mauth.url);
    const unconfirmed = await decideOnLink(browser, session.user_code, { confirm: false });
    assert.equal(unconfirmed.status, 400);
    assert.match(unconfirmed.html, /Confirm that you started this sign-in/);
    assert.match(unconfirmed.html, /Element X/);
    assert.match(unconfirmed.html, new RegExp(deviceId));
    assert.match(unconfirmed.html, /<label class="check" for="confirm_device">/);
    const forged = await browser.postForm(unconfirmed.consentPath, { action: 'consent', confirm_device: 'on' });
    assert.equal(forged.status, 403);
    const stillPending = await poll(session);
    assert.deepEqual([stillPending.status, stillPending.body.error], [403, 'authorization_pending'], 'nothing was approved');
    const unknown = await browser.get('/device/01ARZ3NDEKTSV4RRFFQ69G5FAV');
    assert.equal(unknown.status, 404);
  });
});
