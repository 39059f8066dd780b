// Black box: the device authorization grant while its table cannot be read (locked by someone
// else, as a long migration would): the device authorization endpoint and the polling answer 503
// `temporarily_unavailable` JSON with Retry-After, which clients retry, /link an HTML 503 page,
// and all of it works again once the lock goes.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';
import { OAuth2, discover, generateScope, type DeviceAuthorizationResponse } from '../support/device-grant-client.js';
import { startHomeserverDouble, type HomeserverDouble } from '../support/homeserver-double.js';
import { Browser, parseForms } from '../support/http-client.js';
import { createMauth, type MauthInstance } from '../support/mauth-process.js';
import { tokenRequest } from '../support/oauth-client.js';
import { lockTable } from '../support/table-lock.js';

const SERVER_NAME = 'device-outage.test';
const embedded = process.env.MAUTH_TEST_DATABASE === 'embedded';
const device = () => `DEV${randomBytes(5).toString('hex').toUpperCase()}`;

let hs: HomeserverDouble;
let mauth: MauthInstance;
let clientId: string;

before(async () => {
  if (embedded) return;
  const secret = randomBytes(16).toString('hex');
  hs = await startHomeserverDouble({ secret, serverName: SERVER_NAME });
  mauth = await createMauth({ homeserverUrl: hs.url, serverName: SERVER_NAME, secret, database: { lock_timeout: 1 } });
  await mauth.start();
  const metadata = await discover(`${mauth.url}/`);
  clientId = await OAuth2.registerClient(metadata, { client_uri: 'https://tv.example.org/', redirect_uris: ['org.example.tv:/cb'], application_type: 'native' });
});

after(async () => {
  await mauth?.stop();
  await mauth?.drop();
  await hs?.stop();
});

const askForCodes = () =>
  fetch(`${mauth.url}/oauth2/device`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ client_id: clientId, scope: generateScope(device()) }),
    signal: AbortSignal.timeout(20_000),
  });

test('a locked device code table: 503 temporarily_unavailable with Retry-After, then recovery', { skip: embedded && 'needs PostgreSQL' }, async () => {
  const first = await askForCodes();
  assert.equal(first.status, 200);
  const session = (await first.json()) as DeviceAuthorizationResponse;
  const browser = new Browser(mauth.url);
  const form = parseForms(await (await browser.get('/link')).text())[0];
  assert.ok(form);

  const lock = await lockTable(mauth.databaseUrl, 'oauth2_device_code_grants');
  try {
    const codes = await askForCodes();
    assert.equal(codes.status, 503);
    assert.ok(Number(codes.headers.get('retry-after')) > 0);
    assert.equal(((await codes.json()) as { error: string }).error, 'temporarily_unavailable');

    const polled = await tokenRequest(mauth.url, { grant_type: 'urn:ietf:params:oauth:grant-type:device_code', device_code: session.device_code, client_id: clientId });
    assert.deepEqual([polled.status, polled.body.error], [503, 'temporarily_unavailable']);

    const link = await browser.postForm('/link', { ...form.fields, code: session.user_code });
    assert.equal(link.status, 503);
    assert.match(link.headers.get('content-type') ?? '', /text\/html/);
  } finally {
    await lock.release();
  }

  const pending = await tokenRequest(mauth.url, { grant_type: 'urn:ietf:params:oauth:grant-type:device_code', device_code: session.device_code, client_id: clientId });
  assert.deepEqual([pending.status, pending.body.error], [403, 'authorization_pending']);
  const link = await browser.postForm('/link', { ...form.fields, code: session.user_code });
  assert.equal(link.status, 303);
});
