// Black box: upstream registration asks the homeserver whether the imported username is free;
// that question tells whether a name exists, so it shares /register's per-IP limit
// (`rate_limiting.username_availability`, security finding 10).
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';
import { startHomeserverDouble, type HomeserverDouble } from '../support/homeserver-double.js';
import { Browser } from '../support/http-client.js';
import { createMauth, freePort, type MauthInstance } from '../support/mauth-process.js';
import { follow, startUpstreamProvider, upstreamLogin, type UpstreamProviderDouble } from '../support/upstream-provider.js';

const PROVIDER = '01JD0000000000000000000000';
let hs: HomeserverDouble;
let mauth: MauthInstance;
let idp: UpstreamProviderDouble;

before(async () => {
  const secret = randomBytes(16).toString('hex');
  hs = await startHomeserverDouble({ secret, serverName: 'limit.test' });
  const port = await freePort();
  const issuer = `http://127.0.0.1:${port}`;
  const clientSecret = randomBytes(16).toString('hex');
  mauth = await createMauth({
    homeserverUrl: hs.url,
    serverName: 'limit.test',
    secret,
    extra: {
      rate_limiting: { username_availability: { burst: 1, per_second: 0.0001 } },
      upstream_oauth2: {
        providers: [
          {
            id: PROVIDER,
            issuer,
            client_id: 'mauth-limit',
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
      { client_id: 'mauth-limit', client_secret: clientSecret, token_endpoint_auth_method: 'client_secret_post', redirect_uris: [`${mauth.url}/upstream/callback/${PROVIDER}`] },
    ],
    accounts: [
      { sub: 'u-first', password: 'first-pass', preferred_username: 'firstuser', email: 'first@limit.test', email_verified: true, name: 'First' },
      { sub: 'u-second', password: 'second-pass', preferred_username: 'seconduser', email: 'second@limit.test', email_verified: true, name: 'Second' },
    ],
  });
  await mauth.start();
});

after(async () => {
  await mauth?.stop();
  await mauth?.drop();
  await idp?.stop();
  await hs?.stop();
});

async function signInUpstream(username: string, password: string): Promise<Response> {
  const browser = new Browser(mauth.url);
  const page = await follow(browser, await browser.get(`/upstream/authorize/${PROVIDER}`));
  return upstreamLogin(browser, page, username, password);
}

const asked = (localpart: string) => hs.calls.filter((c) => c.path.endsWith('/is_localpart_available') && c.query.localpart === localpart).length;

test('upstream registration checks usernames within the per-IP limit, and asks nothing once over it', async () => {
  const first = await signInUpstream('firstuser', 'first-pass');
  assert.equal(first.status, 200, 'the first registration page is shown');
  assert.equal(asked('firstuser'), 1, 'the homeserver was asked about the first name');

  const second = await signInUpstream('seconduser', 'second-pass');
  assert.equal(second.status, 429);
  assert.ok(Number(second.headers.get('retry-after')) > 0, 'Retry-After is set');
  assert.match(await second.text(), /Too many/);
  assert.equal(asked('seconduser'), 0, 'the homeserver was not asked about the second name');
});
