// Black box: an account without a password (it signs in through an upstream provider) confirms
// who it is for the cross-signing reset and for deactivation by signing in at its provider
// again: the pages offer the provider, not a password field; a sign-in older than the window no
// longer counts; a fresh one does, and the homeserver then allows the reset / deletes the user.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';
import { formOn, page } from '../support/account.js';
import { startHomeserverDouble, type HomeserverDouble } from '../support/homeserver-double.js';
import { Browser, location, parseForms } from '../support/http-client.js';
import { createInProcessMauth, type InProcessMauth } from '../support/mauth-inprocess.js';
import { freePort } from '../support/mauth-process.js';
import { follow, startUpstreamProvider, upstreamLogin, type UpstreamProviderDouble } from '../support/upstream-provider.js';

const SERVER_NAME = 'reauth.test';
const PROVIDER = '01JKCRP0000000000000000001';

let hs: HomeserverDouble;
let idp: UpstreamProviderDouble;
let mauth: InProcessMauth;

before(async () => {
  const secret = randomBytes(16).toString('hex');
  hs = await startHomeserverDouble({ secret, serverName: SERVER_NAME });
  const port = await freePort();
  const clientSecret = randomBytes(16).toString('hex');
  mauth = await createInProcessMauth({
    homeserverUrl: hs.url,
    serverName: SERVER_NAME,
    secret,
    extra: {
      upstream_oauth2: {
        providers: [
          {
            id: PROVIDER,
            human_name: 'Corp SSO',
            issuer: `http://127.0.0.1:${port}`,
            client_id: 'mauth-upstream',
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
      {
        client_id: 'mauth-upstream',
        client_secret: clientSecret,
        token_endpoint_auth_method: 'client_secret_post',
        redirect_uris: [`${mauth.url}/upstream/callback/${PROVIDER}`],
      },
    ],
    accounts: [
      { sub: 'una-sub', password: 'una-at-corp', preferred_username: 'una' },
      { sub: 'ugo-sub', password: 'ugo-at-corp', preferred_username: 'ugo' },
    ],
  });
  // Accounts with no password, linked to their subject at the provider.
  for (const name of ['una', 'ugo']) {
    const r = await mauth.cli('manage', 'register-user', name, '--upstream-provider-mapping', `${PROVIDER}:${name}-sub`, '--yes');
    assert.equal(r.code, 0, r.stderr);
  }
  await mauth.start();
});

after(async () => {
  await mauth?.stop();
  await mauth?.drop();
  await idp?.stop();
  await hs?.stop();
});

/** Follows a "Continue with" link through the provider (signing in there if it asks) back to Mauth. */
async function throughProvider(browser: Browser, href: string, username: string, password: string): Promise<Response> {
  let res = await follow(browser, await browser.get(href), mauth.url);
  if (res.status === 200) res = await upstreamLogin(browser, res, username, password, mauth.url);
  // Back at Mauth: its callback and link step, then the page it was sent from.
  return follow(browser, await browser.get(location(res)));
}

async function signInUpstream(username: string, password: string): Promise<Browser> {
  const browser = new Browser(mauth.url);
  const res = await throughProvider(browser, `/upstream/authorize/${PROVIDER}?next=${encodeURIComponent('/account/')}`, username, password);
  assert.equal(res.status, 200);
  assert.match(await res.text(), new RegExp(`@${username}:reauth\\.test`));
  return browser;
}

test('the cross-signing reset asks a password-less account to sign in at its provider again, then allows it', async () => {
  const browser = await signInUpstream('una', 'una-at-corp');
  // Long after that sign-in, it no longer proves anything.
  await mauth.advance(600);
  let html = await page(browser, '/account/cross-signing');
  assert.doesNotMatch(html, /name="password"/, 'no password field: the account has none');
  assert.doesNotMatch(html, /Allow the reset/);
  const href = /<a class="upstream-button" href="([^"]+)">Continue with Corp SSO<\/a>/.exec(html)?.[1]?.replace(/&amp;/g, '&');
  assert.ok(href, html);
  assert.equal(href, `/upstream/authorize/${PROVIDER}?next=${encodeURIComponent('/account/cross-signing')}`);

  // Posting without the fresh sign-in allows nothing.
  const early = await browser.postForm('/account/cross-signing', formOn(html, '/account/cross-signing').fields);
  assert.equal(early.status, 400);
  assert.match(await early.text(), /Confirm your identity with your identity provider first/);
  assert.ok(!hs.calls.some((c) => c.path.endsWith('/allow_cross_signing_reset')));

  const back = await throughProvider(browser, href, 'una', 'una-at-corp');
  assert.equal(back.status, 200);
  html = await back.text();
  assert.match(html, /You have just confirmed your identity with your identity provider/);
  const res = await browser.postForm('/account/cross-signing', formOn(html, '/account/cross-signing').fields);
  assert.equal(res.status, 200);
  assert.match(await res.text(), /Return to your app/);
  const call = await hs.waitFor((c) => c.path === '/_synapse/mas/allow_cross_signing_reset');
  assert.deepEqual(call.body, { localpart: 'una' });
});

test('deactivation of a password-less account is confirmed at the provider too', async () => {
  const browser = await signInUpstream('ugo', 'ugo-at-corp');
  await mauth.advance(600);
  let html = await page(browser, '/account/deactivate');
  const href = /<a class="upstream-button" href="([^"]+)">/.exec(html)?.[1]?.replace(/&amp;/g, '&');
  assert.ok(href);
  let res = await browser.postForm('/account/deactivate', { ...formOn(html, '/account/deactivate').fields, confirm: 'on' });
  assert.equal(res.status, 400);
  assert.equal((await browser.get('/account/')).status, 200, 'not deactivated');

  html = await (await throughProvider(browser, href, 'ugo', 'ugo-at-corp')).text();
  const form = parseForms(html).find((f) => f.action === '/account/deactivate');
  assert.ok(form);
  res = await browser.postForm(form.action, { ...form.fields, confirm: 'on' });
  assert.equal(res.status, 200);
  assert.match(await res.text(), /Your account has been deactivated/);
  const call = await hs.waitFor((c) => c.path === '/_synapse/mas/delete_user');
  assert.deepEqual(call.body, { localpart: 'ugo', erase: false });
});

test('no request in this file produced a 5xx or an error log', () => {
  assert.doesNotMatch(mauth.output(), /"status":5\d\d|request failed|unhandled error|"level":50/);
});
