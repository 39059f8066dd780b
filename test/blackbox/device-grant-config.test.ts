// Black box: the device authorization grant's switches. `oauth.device_code_grant_enabled: false`
// takes it out of discovery, registration, the endpoints and the pages, and clients registered
// for it before still work for their other grants. `device_code_user_code_auto_fill_enabled`
// hands out /link?code=… and honours it; `rate_limiting.device_code_link` limits code entries.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { DEVICE_GRANT } from '../support/device-grant-client.js';
import { startHomeserverDouble, type HomeserverDouble } from '../support/homeserver-double.js';
import { Browser, location, parseForms } from '../support/http-client.js';
import { createMauth, type MauthInstance } from '../support/mauth-process.js';
import { registerClient, tokenRequest } from '../support/oauth-client.js';

const SERVER_NAME = 'device-config.test';
let hs: HomeserverDouble;
let secret: string;

before(async () => {
  secret = randomBytes(16).toString('hex');
  hs = await startHomeserverDouble({ secret, serverName: SERVER_NAME });
});

after(async () => {
  await hs?.stop();
});

async function start(extra: Record<string, unknown>): Promise<MauthInstance> {
  const mauth = await createMauth({ homeserverUrl: hs.url, serverName: SERVER_NAME, secret, extra });
  try {
    await mauth.start();
  } catch (err) {
    // The caller never gets the instance to stop: a server left running would keep the test file from ending.
    await mauth.stop();
    await mauth.drop();
    throw err;
  }
  return mauth;
}

const deviceClient = {
  client_uri: 'https://tv.example.org/',
  application_type: 'native',
  redirect_uris: ['org.example.tv:/cb'],
  token_endpoint_auth_method: 'none',
  response_types: ['code'],
  grant_types: ['authorization_code', 'refresh_token', DEVICE_GRANT],
};

describe('with the device grant turned off', () => {
  let mauth: MauthInstance;
  before(async () => {
    mauth = await start({ oauth: { device_code_grant_enabled: false } });
  });
  after(async () => {
    await mauth?.stop();
    await mauth?.drop();
  });

  test('discovery advertises neither the endpoint nor the grant', async () => {
    const d = (await (await fetch(`${mauth.url}/.well-known/openid-configuration`)).json()) as Record<string, any>;
    assert.equal(d.device_authorization_endpoint, undefined);
    assert.ok(!d.grant_types_supported.includes(DEVICE_GRANT));
    assert.ok(d.grant_types_supported.includes('authorization_code'));
  });

  test('registration drops the grant, the endpoints refuse it as MAS does, and there is no /link page', async () => {
    const res = await registerClient(mauth.url, deviceClient);
    const body = (await res.json()) as { client_id: string; grant_types: string[] };
    assert.equal(res.status, 201, JSON.stringify(body));
    assert.deepEqual(body.grant_types, ['authorization_code', 'refresh_token']);
    const device = await fetch(`${mauth.url}/oauth2/device`, { method: 'POST', body: new URLSearchParams({ client_id: body.client_id }) });
    assert.equal(device.status, 400);
    assert.equal(((await device.json()) as { error: string }).error, 'invalid_request');
    const token = await tokenRequest(mauth.url, { grant_type: DEVICE_GRANT, device_code: 'x', client_id: body.client_id });
    assert.deepEqual([token.status, token.body.error], [400, 'unsupported_grant_type']);
    assert.equal((await fetch(`${mauth.url}/link`)).status, 404);
    assert.equal((await fetch(`${mauth.url}/device/01ARZ3NDEKTSV4RRFFQ69G5FAV`)).status, 404);
  });
});

describe('with the code filled in by the link and a tight limit on code entries', () => {
  let mauth: MauthInstance;
  before(async () => {
    mauth = await start({
      oauth: { device_code_user_code_auto_fill_enabled: true },
      rate_limiting: { device_code_link: { burst: 3, per_second: 0.001 } },
    });
  });
  after(async () => {
    await mauth?.stop();
    await mauth?.drop();
  });

  test('verification_uri_complete carries the code, and following it leads to the consent step', async () => {
    const reg = (await (await registerClient(mauth.url, deviceClient)).json()) as { client_id: string };
    const res = await fetch(`${mauth.url}/oauth2/device`, { method: 'POST', body: new URLSearchParams({ client_id: reg.client_id, scope: 'openid' }) });
    const body = (await res.json()) as { user_code: string; verification_uri_complete: string };
    assert.equal(res.status, 200, JSON.stringify(body));
    assert.equal(body.verification_uri_complete, `${mauth.url}/link?code=${body.user_code}`);
    const browser = new Browser(mauth.url);
    const followed = await browser.get(body.verification_uri_complete);
    assert.equal(followed.status, 303);
    assert.match(location(followed), new RegExp(`^/device/[0-9A-Z]{26}\\?code=${body.user_code}$`), 'the consent page is told the code, to show it');
  });

  test('code entries from one address are limited (rate_limiting.device_code_link)', async () => {
    const browser = new Browser(mauth.url);
    const form = parseForms(await (await browser.get('/link')).text())[0];
    // One entry went to the test above; the burst of 3 allows two more.
    for (let i = 0; i < 2; i += 1) assert.equal((await browser.postForm('/link', { ...form.fields, code: 'AAAAAA' })).status, 400);
    const limited = await browser.postForm('/link', { ...form.fields, code: 'AAAAAA' });
    assert.equal(limited.status, 429);
    assert.ok(Number(limited.headers.get('retry-after')) > 0);
    assert.match(await limited.text(), /Too many codes entered/);
  });

  test('an IPv6 client is counted per /64: other addresses of its network share its allowance', async () => {
    const browser = new Browser(mauth.url);
    const form = parseForms(await (await browser.get('/link')).text())[0]!;
    // From loopback, a trusted proxy by default: X-Forwarded-For names the client.
    const enter = (ip: string) =>
      browser.request('/link', {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-forwarded-for': ip },
        body: new URLSearchParams({ ...form.fields, code: 'AAAAAA' }).toString(),
      });
    for (let i = 1; i <= 3; i += 1) assert.equal((await enter(`2001:db8:5:6::${i}`)).status, 400);
    assert.equal((await enter('2001:db8:5:6:ffff::9')).status, 429, 'a fourth address of the same /64');
    assert.equal((await enter('2001:db8:5:7::1')).status, 400, 'another /64 has its own allowance');
  });
});
