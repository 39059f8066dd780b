// Black box: upstream registration while the homeserver is down (its double stopped). The
// registration step asks the homeserver whether the imported username is free; without an answer
// it says "try again shortly" as every other endpoint does: 503 with Retry-After, never a 502 or 500.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';
import { startHomeserverDouble, type HomeserverDouble } from '../support/homeserver-double.js';
import { Browser } from '../support/http-client.js';
import { createMauth, freePort, type MauthInstance } from '../support/mauth-process.js';
import { follow, startUpstreamProvider, upstreamLogin, type UpstreamProviderDouble } from '../support/upstream-provider.js';

const PROVIDER = '01JD0000000000000000000001';
let hs: HomeserverDouble;
let mauth: MauthInstance;
let idp: UpstreamProviderDouble;

before(async () => {
  const secret = randomBytes(16).toString('hex');
  hs = await startHomeserverDouble({ secret, serverName: 'up-down.test' });
  const port = await freePort();
  const issuer = `http://127.0.0.1:${port}`;
  const clientSecret = randomBytes(16).toString('hex');
  mauth = await createMauth({
    homeserverUrl: hs.url,
    serverName: 'up-down.test',
    secret,
    extra: {
      upstream_oauth2: {
        providers: [
          {
            id: PROVIDER,
            issuer,
            client_id: 'mauth-down',
            client_secret: clientSecret,
            token_endpoint_auth_method: 'client_secret_post',
            scope: 'openid profile email',
            claims_imports: { localpart: { action: 'require', template: '{{ user.preferred_username }}' } },
          },
        ],
      },
    },
  });
  idp = await startUpstreamProvider({
    port,
    clients: [
      { client_id: 'mauth-down', client_secret: clientSecret, token_endpoint_auth_method: 'client_secret_post', redirect_uris: [`${mauth.url}/upstream/callback/${PROVIDER}`] },
    ],
    accounts: [{ sub: 'u-new', password: 'new-pass', preferred_username: 'newcomer', email: 'new@up-down.test', email_verified: true, name: 'New' }],
  });
  await hs.stop();
  await mauth.start();
});

after(async () => {
  await mauth?.stop();
  await mauth?.drop();
  await idp?.stop();
});

test('upstream registration: 503 page with Retry-After when the homeserver cannot be asked about the username', async () => {
  const browser = new Browser(mauth.url);
  const page = await follow(browser, await browser.get(`/upstream/authorize/${PROVIDER}`));
  const res = await upstreamLogin(browser, page, 'newcomer', 'new-pass');
  const html = await res.text();
  assert.equal(res.status, 503, html.slice(0, 400));
  assert.match(res.headers.get('content-type') ?? '', /text\/html/);
  const retry = Number(res.headers.get('retry-after'));
  assert.ok(Number.isInteger(retry) && retry > 0, `Retry-After: ${res.headers.get('retry-after')}`);
  assert.match(html, /The homeserver is not reachable/);
  assert.match(html, /Try again in a moment\./);
});
