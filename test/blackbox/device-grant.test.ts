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

/** Every code handed out in this file, and every consent page's id: none may reach the log. */
const issued: string[] = [];

/** The client as the SDK runs it, its waits between polls moving the server's clock. */
function sdkClient(id = clientId, deviceId = device()): OAuth2 {
  const oauth = new OAuth2(metadata, id, deviceId, {
    wait: async (ms) => mauth.clock.advance(ms / 1000),
    now: () => mauth.clock.now().getTime(),
  });
  const start = oauth.startDeviceAuthorizationGrant.bind(oauth);
  oauth.startDeviceAuthorizationGrant = async (scope) => {
    const session = await start(scope);
    issued.push(session.device_code, session.user_code);
    return session;
  };
  return oauth;
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
  assert.match(consentPath, new RegExp(`^/device/[0-9A-Z]{26}\\?code=${userCode.toUpperCase()}$`), 'the consent page is told the code, to show it');
  issued.push(consentPath.slice('/device/'.length, '/device/'.length + 26));
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

describe('exchanging an approved code', () => {
  /** The id of the request behind a consent page's path. */
  const grantId = (consentPath: string) => consentPath.slice('/device/'.length).split('?')[0]!;

  test('two concurrent exchanges of one approved code: exactly one gets tokens, the other invalid_grant, one device', async () => {
    const deviceId = device();
    const session = await sdkClient(clientId, deviceId).startDeviceAuthorizationGrant();
    const { consentPath } = await decideOnLink(new Browser(mauth.url), session.user_code);
    // Both requests find the approved code, then wait for its row, which this transaction holds:
    // once it lets go, both try to take the code at the same moment.
    let racing!: Promise<Awaited<ReturnType<typeof poll>>[]>;
    await db.begin(async (tx) => {
      await tx`SELECT 1 FROM oauth2_device_code_grants WHERE id = ${grantId(consentPath)} FOR UPDATE`;
      racing = Promise.all([poll(session), poll(session)]);
      const deadline = Date.now() + 20_000;
      for (;;) {
        const [row] = await db<{ n: number }[]>`
          SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`;
        if ((row?.n ?? 0) >= 2) break;
        assert.ok(Date.now() < deadline, 'both exchanges reached the approved code');
        await sleep(20);
      }
    });
    const answers = await racing;
    const won = answers.filter((a) => a.status === 200);
    const lost = answers.filter((a) => a.status !== 200);
    assert.equal(won.length, 1, JSON.stringify(answers.map((a) => [a.status, a.body.error])));
    assert.deepEqual([lost[0]!.status, lost[0]!.body.error], [400, 'invalid_grant']);
    assert.equal((await introspect(mauth.url, mauth.secret, won[0]!.body.access_token)).body.device_id, deviceId);
    const sessions = await db`SELECT 1 FROM oauth2_sessions WHERE device_id = ${deviceId}`;
    assert.equal(sessions.length, 1, 'one session for the device');
    const upserts = hs.calls.filter((c) => c.path.endsWith('/upsert_device') && (c.body as { device_id?: string }).device_id === deviceId);
    assert.equal(upserts.length, 1, 'the device was created once');
  });

  test('a homeserver failure during the exchange answers 503 and does not use the code up: the next poll gets the tokens', async () => {
    const deviceId = device();
    const session = await sdkClient(clientId, deviceId).startDeviceAuthorizationGrant();
    await decideOnLink(new Browser(mauth.url), session.user_code);
    hs.failNext('upsert_device', 1, 500);
    const failed = await poll(session);
    assert.deepEqual([failed.status, failed.body.error], [503, 'temporarily_unavailable']);
    assert.equal(failed.body.access_token, undefined);

    // matrix-js-sdk keeps polling through an error it does not know; MAS would have rolled the exchange back.
    const retried = await poll(session);
    assert.equal(retried.status, 200, JSON.stringify(retried.body));
    assert.ok(retried.body.scope.split(' ').includes(`urn:matrix:client:device:${deviceId}`));
    const again = await poll(session);
    assert.deepEqual([again.status, again.body.error], [400, 'invalid_grant'], 'still exchanged once only');

    // The failed attempt's session ended and its device's removal was queued; the device the tokens use stays.
    await mauth.jobsSettled();
    const info = await introspect(mauth.url, mauth.secret, retried.body.access_token);
    assert.deepEqual([info.body.active, info.body.username, info.body.device_id], [true, 'alice', deviceId]);
    assert.ok(hs.devices('alice').has(deviceId), 'the device exists on the homeserver');
    const live = await db`SELECT 1 FROM oauth2_sessions WHERE device_id = ${deviceId} AND finished_at IS NULL`;
    assert.equal(live.length, 1);
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
    const linked = await browser.get(`/link?code=${session.user_code}`);
    assert.equal(linked.status, 200, 'a code in the link counts only with auto-fill on (MAS)');
    assert.match(await linked.text(), /<input id="code" name="code" value=""/, 'the code is not filled in');
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
    assert.match(unconfirmed.html, new RegExp(`<code class="user-code">${session.user_code}</code>`), 'the code, to compare with the one on the device');
    const [grantPath] = unconfirmed.consentPath.split('?');
    const otherCode = await (await browser.get(`${grantPath}?code=ZZZ999`)).text();
    assert.match(otherCode, /Allow Element X on a new device\?/);
    assert.doesNotMatch(otherCode, /class="user-code"/, 'a code that is not the request\'s own is not shown');
    assert.match(unconfirmed.html, /<label class="check" for="confirm_device">/);
    const forged = await browser.postForm(unconfirmed.consentPath, { action: 'consent', confirm_device: 'on' });
    assert.equal(forged.status, 403);
    const stillPending = await poll(session);
    assert.deepEqual([stillPending.status, stillPending.body.error], [403, 'authorization_pending'], 'nothing was approved');
    const unknown = await browser.get('/device/01ARZ3NDEKTSV4RRFFQ69G5FAV');
    assert.equal(unknown.status, 404);
  });

  test('an answered request shows its outcome to the user who answered it, and to nobody else', async () => {
    const session = await sdkClient().startDeviceAuthorizationGrant();
    const decider = new Browser(mauth.url);
    const { consentPath } = await decideOnLink(decider, session.user_code);
    const again = await decider.get(consentPath);
    assert.equal(again.status, 200);
    assert.match(await again.text(), /Device allowed[\s\S]*@alice:/);
    assert.equal((await new Browser(mauth.url).get(consentPath)).status, 303, 'a browser must sign in first');
    const other = new Browser(mauth.url);
    const login = parseForms(await (await other.get(`/login?next=${encodeURIComponent(consentPath)}`)).text()).find((f) => 'password' in f.fields)!;
    const signedIn = await other.postForm(login.action, { ...login.fields, username: 'root', password: 'root-password-1' });
    assert.equal(location(signedIn), consentPath);
    const seen = await other.get(consentPath);
    const html = await seen.text();
    assert.equal(seen.status, 409);
    assert.match(html, /already been answered/);
    assert.doesNotMatch(html, /@root:|@alice:/, 'no account is named');
    const form = parseForms(await (await other.get('/link')).text())[0]!;
    const posted = await other.postForm(consentPath, { csrf: form.fields.csrf!, action: 'reject' });
    assert.equal(posted.status, 409, 'nor can it be answered again');
    const tokens = await poll(session);
    assert.equal(tokens.status, 200, 'the approval stands');
  });
});

describe('the log', () => {
  test('holds no device code, user code or consent page id of this file', () => {
    const log = mauth.output();
    assert.match(log, /"msg":"request refused"/, 'refused token requests are logged');
    assert.match(log, /"path":"\/oauth2\/token","status":503/, 'the failed exchange is logged');
    assert.ok(issued.length > 20, 'this file issued codes');
    // Whole words: a 6-character user code may well occur inside some longer identifier.
    for (const secret of issued) assert.doesNotMatch(log, new RegExp(`(?<![A-Za-z0-9])${secret}(?![A-Za-z0-9])`, 'i'), `${secret.slice(0, 3)}… is in the log`);
  });
});
