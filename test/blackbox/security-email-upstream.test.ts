// Black box, security review (issue 8, finding 2): an e-mail address imported from an upstream
// provider is held to the same rule as a typed one. A claim that is an address list is never
// stored, verified or sent to the homeserver; a valid one is stored in canonical form.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';
import postgres from 'postgres';
import { ulid } from 'ulid';
import { startHomeserverDouble, type HomeserverDouble } from '../support/homeserver-double.js';
import { Browser, parseForms } from '../support/http-client.js';
import { createMauth, freePort, type MauthInstance } from '../support/mauth-process.js';
import { follow, startUpstreamProvider, upstreamLogin, type UpstreamProviderDouble } from '../support/upstream-provider.js';

const SERVER_NAME = 'upstream-mail.test';
const PROVIDER = ulid();
const CLIENT_SECRET = randomBytes(16).toString('hex');

let hs: HomeserverDouble;
let idp: UpstreamProviderDouble;
let mauth: MauthInstance;
let db: postgres.Sql;

before(async () => {
  const secret = randomBytes(16).toString('hex');
  hs = await startHomeserverDouble({ secret, serverName: SERVER_NAME });
  const upstreamPort = await freePort();
  const issuer = `http://127.0.0.1:${upstreamPort}`;
  mauth = await createMauth({
    homeserverUrl: hs.url,
    serverName: SERVER_NAME,
    secret,
    extra: {
      upstream_oauth2: {
        providers: [
          {
            id: PROVIDER,
            human_name: 'Directory',
            issuer,
            client_id: 'mauth-mail',
            client_secret: CLIENT_SECRET,
            token_endpoint_auth_method: 'client_secret_post',
            scope: 'openid profile email',
            claims_imports: { localpart: { action: 'require' }, email: { action: 'force' } },
          },
        ],
      },
    },
  });
  idp = await startUpstreamProvider({
    port: upstreamPort,
    clients: [{ client_id: 'mauth-mail', client_secret: CLIENT_SECRET, token_endpoint_auth_method: 'client_secret_post', redirect_uris: [`${mauth.url}/upstream/callback/${PROVIDER}`] }],
    accounts: [
      { sub: 'up-mallory', password: 'mallory-upstream', preferred_username: 'mallory', email: 'mallory@evil.test,nobody@example.test', email_verified: true },
      { sub: 'up-uli', password: 'uli-upstream', preferred_username: 'uli', email: 'Uli@Bücher.Example', email_verified: true },
    ],
  });
  await mauth.start();
  db = postgres(mauth.databaseUrl, { max: 2, onnotice: () => {} });
});

after(async () => {
  await db?.end();
  await mauth?.stop();
  await mauth?.drop();
  await idp?.stop();
  await hs?.stop();
});

/** Signs in upstream as `username` and submits Mauth's registration form as it is offered. */
async function registerThroughProvider(username: string, password: string): Promise<string> {
  const browser = new Browser(mauth.url);
  const atProvider = await follow(browser, await browser.get(`/upstream/authorize/${PROVIDER}?next=/account/`));
  const page = await upstreamLogin(browser, atProvider, username, password);
  const html = await page.text();
  assert.equal(page.status, 200, html.slice(0, 500));
  const form = parseForms(html).find((f) => f.fields.action === 'register');
  assert.ok(form, html.slice(0, 500));
  const created = await browser.postForm(form.action, form.fields);
  assert.equal(created.status, 303, (await created.clone().text()).slice(0, 500));
  return html;
}

async function emailsOf(username: string) {
  return db<{ email: string; verified: boolean }[]>`
    SELECT e.email, e.verified_at IS NOT NULL AS verified FROM user_emails e JOIN users u ON u.id = e.user_id WHERE u.username = ${username}`;
}

test('a forced e-mail claim that is an address list is dropped: not offered, not stored, not sent to the homeserver', async () => {
  const html = await registerThroughProvider('mallory', 'mallory-upstream');
  assert.doesNotMatch(html, /evil\.test/);
  assert.equal((await emailsOf('mallory')).length, 0);
  const provisioned = await hs.waitFor((c) => c.path.endsWith('/provision_user') && (c.body as any)?.localpart === 'mallory', 10_000);
  assert.ok(!JSON.stringify(provisioned.body).includes('evil.test'), JSON.stringify(provisioned.body));
  assert.match(mauth.output(), /not one e-mail address/);
});

test('a valid imported address is stored in canonical form', async () => {
  await registerThroughProvider('uli', 'uli-upstream');
  assert.deepEqual([...(await emailsOf('uli'))].map((e) => ({ ...e })), [{ email: 'Uli@xn--bcher-kva.example', verified: true }]);
  const provisioned = await hs.waitFor((c) => c.path.endsWith('/provision_user') && (c.body as any)?.localpart === 'uli', 10_000);
  assert.deepEqual((provisioned.body as any).set_emails, ['Uli@xn--bcher-kva.example']);
});

test('no request produced a 5xx', () => {
  assert.doesNotMatch(mauth.output(), /request failed|unhandled error|"level":50/);
});
