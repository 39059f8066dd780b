// Black box: what goes wrong on the way through an upstream provider (forged or replayed
// callbacks, a wrong nonce, an ID token signed by a key the provider does not publish, a provider
// that is down, a broken claims template, an unverified e-mail) gives a clear page and leaves
// nothing behind; and `mauth config sync` / `config check` as an operator uses them.
import assert from 'node:assert/strict';
import { FIXTURES_DIR } from '../support/fixtures.js';
import { randomBytes } from 'node:crypto';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import postgres from 'postgres';
import { ulid } from 'ulid';
import YAML from 'yaml';
import { startHomeserverDouble, type HomeserverDouble } from '../support/homeserver-double.js';
import { Browser, location, parseForms } from '../support/http-client.js';
import { createMauth, freePort, type MauthInstance } from '../support/mauth-process.js';
import { startSmtp, type SmtpCatcher } from '../support/smtp.js';
import { follow, startUpstreamProvider, upstreamLogin, type UpstreamProviderDouble } from '../support/upstream-provider.js';

const SERVER_NAME = 'errors.test';
const MAIN = ulid();
const FOREIGN = ulid();
const DOWN = ulid();
const BROKEN = ulid();
const PKJWT = ulid();
const CSJWT = ulid();
const LONG_SECRET = randomBytes(32).toString('hex');
const SECRET = randomBytes(16).toString('hex');

let hs: HomeserverDouble;
let mauth: MauthInstance;
let smtp: SmtpCatcher;
let idp: UpstreamProviderDouble;
let db: postgres.Sql;
let dir: string;
let providers: Record<string, unknown>[];

before(async () => {
  const secret = randomBytes(16).toString('hex');
  hs = await startHomeserverDouble({ secret, serverName: SERVER_NAME });
  const port = await freePort();
  const issuer = `http://127.0.0.1:${port}`;
  const base = { issuer, client_secret: SECRET, token_endpoint_auth_method: 'client_secret_post', scope: 'openid profile email' };
  providers = [
    { ...base, id: MAIN, human_name: 'Keycloak', client_id: 'mauth-main', claims_imports: { localpart: { action: 'require' }, email: { action: 'suggest' } } },
    {
      ...base,
      id: FOREIGN,
      client_id: 'mauth-foreign',
      discovery_mode: 'disabled',
      authorization_endpoint: `${issuer}/auth`,
      token_endpoint: `${issuer}/token`,
      jwks_uri: `${issuer}/foreign-jwks`,
    },
    { ...base, id: DOWN, issuer: `http://127.0.0.1:${await freePort()}`, client_id: 'mauth-down' },
    { ...base, id: BROKEN, client_id: 'mauth-broken', claims_imports: { localpart: { action: 'require', template: '{{ user.preferred_username | from_json }}' } } },
    { ...base, id: PKJWT, client_id: 'mauth-pkjwt', client_secret: undefined, token_endpoint_auth_method: 'private_key_jwt', token_endpoint_auth_signing_alg: 'RS256' },
    { ...base, id: CSJWT, client_id: 'mauth-csjwt', client_secret: LONG_SECRET, token_endpoint_auth_method: 'client_secret_jwt', token_endpoint_auth_signing_alg: 'HS384' },
  ];
  smtp = await startSmtp();
  mauth = await createMauth({
    homeserverUrl: hs.url,
    serverName: SERVER_NAME,
    secret,
    extra: {
      upstream_oauth2: { providers },
      email: { transport: 'smtp', mode: 'plain', hostname: '127.0.0.1', port: smtp.port, from: 'auth@errors.test', reply_to: 'auth@errors.test' },
    },
  });
  const client = (id: string, clientId: string) => ({
    client_id: clientId,
    client_secret: SECRET,
    token_endpoint_auth_method: 'client_secret_post' as const,
    redirect_uris: [`${mauth.url}/upstream/callback/${id}`],
  });
  idp = await startUpstreamProvider({
    port,
    clients: [
      client(MAIN, 'mauth-main'),
      client(FOREIGN, 'mauth-foreign'),
      client(BROKEN, 'mauth-broken'),
      // private_key_jwt with Mauth's own signing keys, which it publishes at /oauth2/keys.json.
      { client_id: 'mauth-pkjwt', token_endpoint_auth_method: 'private_key_jwt', token_endpoint_auth_signing_alg: 'RS256', jwks_uri: `${mauth.url}/oauth2/keys.json`, redirect_uris: [`${mauth.url}/upstream/callback/${PKJWT}`] },
      { client_id: 'mauth-csjwt', client_secret: LONG_SECRET, token_endpoint_auth_method: 'client_secret_jwt', token_endpoint_auth_signing_alg: 'HS384', redirect_uris: [`${mauth.url}/upstream/callback/${CSJWT}`] },
    ],
    accounts: [
      { sub: 'kc-eve', password: 'eve-pw', preferred_username: 'eve', email: 'eve@corp.test', email_verified: true, name: 'Eve' },
      { sub: 'kc-frank', password: 'frank-pw', preferred_username: 'frank', email: 'frank@corp.test', email_verified: false, name: 'Frank' },
    ],
  });
  db = postgres(mauth.databaseUrl, { max: 2, onnotice: () => {} });
  dir = await mkdtemp(join(tmpdir(), 'mauth-upstream-'));
});

after(async () => {
  await smtp?.stop();
  await db?.end();
  await mauth?.stop();
  await mauth?.drop();
  await idp?.stop();
  await hs?.stop();
});

async function nothingCreated() {
  const [{ users }] = await db<{ users: number }[]>`SELECT count(*)::int AS users FROM users`;
  const [{ links }] = await db<{ links: number }[]>`SELECT count(*)::int AS links FROM upstream_oauth_links`;
  assert.deepEqual({ users, links }, { users: 0, links: 0 }, 'no account and no link were created');
}

/** Signs in at the provider and stops at its redirect back to Mauth's callback. */
async function toCallback(browser: Browser, providerId: string, username: string, password: string): Promise<string> {
  const start = await follow(browser, await browser.get(`/upstream/authorize/${providerId}?next=/account/`));
  const back = await upstreamLogin(browser, start, username, password, `${mauth.url}/upstream/callback/`);
  assert.equal(back.status, 303, `expected the redirect back to Mauth, got ${back.status}`);
  return location(back);
}

async function errorPage(res: Response, status: number, pattern: RegExp) {
  const html = await res.text();
  assert.equal(res.status, status, html.slice(0, 400));
  assert.match(html, /role="alert"/);
  assert.match(html, pattern);
  return html;
}

test('config sync: dry run, create with encrypted secrets, unchanged on the second run', async () => {
  // A dry run refuses an unmigrated database (migrating would be a write): migrate first.
  const migrated = await mauth.cli('database', 'migrate');
  assert.equal(migrated.code, 0, migrated.stderr);
  const dry = await mauth.cli('config', 'sync', '--dry-run');
  assert.equal(dry.code, 0, dry.stderr);
  assert.match(dry.stdout, new RegExp(`upstream provider ${MAIN}: would be created`));
  assert.equal((await db`SELECT 1 FROM upstream_oauth_providers`.catch(() => [])).length, 0, 'a dry run writes nothing');
  const first = await mauth.cli('config', 'sync');
  assert.equal(first.code, 0, first.stderr);
  for (const id of [MAIN, FOREIGN, DOWN, BROKEN, PKJWT, CSJWT]) assert.match(first.stdout, new RegExp(`upstream provider ${id}: created`));
  assert.match(first.stdout, /static client\(s\)/);
  const second = await mauth.cli('config', 'sync');
  for (const id of [MAIN, FOREIGN, DOWN, BROKEN, PKJWT, CSJWT]) assert.match(second.stdout, new RegExp(`upstream provider ${id}: unchanged`));
  const [row] = await db<{ encrypted_client_secret: string; config: Record<string, unknown> }[]>`
    SELECT encrypted_client_secret, config FROM upstream_oauth_providers WHERE id = ${MAIN}`;
  assert.ok(row.encrypted_client_secret.split('.').length === 5, 'a JWE');
  assert.ok(!row.encrypted_client_secret.includes(SECRET));
  assert.ok(!JSON.stringify(row.config).includes(SECRET), 'the stored block holds no secret');
  await mauth.start();
});

test('private_key_jwt (secrets.keys) and client_secret_jwt (HS384) authenticate Mauth at the token endpoint', async () => {
  for (const id of [PKJWT, CSJWT]) {
    const browser = new Browser(mauth.url);
    const page = await follow(browser, await browser.get(await toCallback(browser, id, 'eve', 'eve-pw')));
    assert.equal(page.status, 200, (await page.clone().text()).slice(0, 400));
    assert.match(await page.text(), /Create your account/, `the code exchange through ${id} succeeded`);
  }
  await nothingCreated();
});

test('an unknown provider, and one that is down, give clear pages', async () => {
  const browser = new Browser(mauth.url);
  await errorPage(await browser.get(`/upstream/authorize/${ulid()}`), 404, /does not exist or is turned off/);
  await errorPage(await browser.get('/upstream/authorize/..%2F..%2Fetc'), 404, /does not exist/);
  await errorPage(await browser.get(`/upstream/authorize/${DOWN}?next=/account/`), 502, /identity provider is not reachable/i);
  await errorPage(await browser.get(`/upstream/link/${ulid()}`), 400, /not started in this browser/);
  await nothingCreated();
});

test('a forged state is refused; the real callback then works once, and its replay is refused', async () => {
  const browser = new Browser(mauth.url);
  const callback = await toCallback(browser, MAIN, 'eve', 'eve-pw');
  const forged = new URL(callback);
  forged.searchParams.set('state', randomBytes(16).toString('base64url'));
  await errorPage(await browser.get(forged.href), 400, /does not belong to a sign-in started in this browser/);
  // Another browser cannot use the real callback either.
  await errorPage(await new Browser(mauth.url).get(callback), 400, /does not belong to a sign-in started in this browser/);

  const ok = await browser.get(callback);
  assert.equal(ok.status, 303);
  assert.match(location(ok), /^\/upstream\/link\//);
  await errorPage(await browser.get(callback), 400, /already used/);
  const page = await follow(browser, ok);
  assert.match(await page.text(), /Create your account/);
  await nothingCreated();
});

test('a wrong nonce in the ID token is refused', async () => {
  idp.tamperNonce = true;
  try {
    const browser = new Browser(mauth.url);
    const callback = await toCallback(browser, MAIN, 'eve', 'eve-pw');
    await errorPage(await browser.get(callback), 400, /could not be verified/);
  } finally {
    idp.tamperNonce = false;
  }
  await mauth.waitForOutput(/upstream sign-in rejected/);
  await nothingCreated();
});

test('an ID token signed by a key the configured jwks_uri does not hold is refused', async () => {
  const browser = new Browser(mauth.url);
  const callback = await toCallback(browser, FOREIGN, 'eve', 'eve-pw');
  await errorPage(await browser.get(callback), 400, /could not be verified/);
  await nothingCreated();
});

test('a token endpoint that is down gives a clear page', async () => {
  idp.tokenEndpointDown = true;
  try {
    const browser = new Browser(mauth.url);
    const callback = await toCallback(browser, MAIN, 'eve', 'eve-pw');
    await errorPage(await browser.get(callback), 502, /not reachable/);
  } finally {
    idp.tokenEndpointDown = false;
  }
  await nothingCreated();
});

test('an error answer from the provider is shown, not a crash', async () => {
  const browser = new Browser(mauth.url);
  const callback = new URL(await toCallback(browser, MAIN, 'eve', 'eve-pw'));
  callback.searchParams.delete('code');
  callback.searchParams.set('error', 'access_denied');
  await errorPage(await browser.get(callback.href), 400, /did not sign you in/);
  await nothingCreated();
});

test('a claims template that fails tells the operator which one and the user what happened', async () => {
  const browser = new Browser(mauth.url);
  const callback = await toCallback(browser, BROKEN, 'eve', 'eve-pw');
  const page = await follow(browser, await browser.get(callback));
  await errorPage(page, 400, /did not send a usable username/);
  await mauth.waitForOutput(/claims_imports\.localpart: from_json/);
  await nothingCreated();
});

test('an unverified e-mail with password_registration_email_required is proven with a mailed code before the account exists', async () => {
  const browser = new Browser(mauth.url);
  const page = await follow(browser, await browser.get(await toCallback(browser, MAIN, 'frank', 'frank-pw')));
  const html = await page.text();
  assert.match(html, /frank@corp\.test/);
  assert.match(html, /not verified by Keycloak/);
  const form = parseForms(html).find((f) => f.fields.action === 'register')!;
  let res = await browser.postForm(form.action, form.fields);
  assert.equal(res.status, 303);
  assert.match(location(res), /^\/upstream\/verify-email\//);
  res = await browser.get(location(res));
  assert.equal(res.status, 200);
  const codePage = await res.text();
  assert.match(codePage, /frank@corp\.test/);
  await nothingCreated();
  const [pending] = await db<{ pending_registration: unknown }[]>`SELECT pending_registration FROM upstream_oauth_sessions WHERE pending_registration IS NOT NULL`;
  assert.deepEqual(pending.pending_registration, { localpart: 'frank', email: 'frank@corp.test' });

  const mail = await smtp.waitFor((m) => m.to.includes('frank@corp.test'), 30_000);
  const code = /\b(\d{6})\b/.exec(mail.text)![1];
  const codeForm = parseForms(codePage)[0];
  const wrong = await browser.postForm(codeForm.action, { ...codeForm.fields, code: code === '000000' ? '111111' : '000000', action: 'verify' });
  assert.equal(wrong.status, 400);
  await nothingCreated();
  res = await browser.postForm(codeForm.action, { ...codeForm.fields, code, action: 'verify' });
  assert.equal(res.status, 303);
  const done = await follow(browser, await browser.get(location(res)));
  assert.match(await done.text(), /@frank:errors\.test/);
  const [email] = await db<{ email: string; verified_at: Date | null }[]>`
    SELECT e.email, e.verified_at FROM user_emails e JOIN users u ON u.id = e.user_id WHERE u.username = 'frank'`;
  assert.equal(email.email, 'frank@corp.test');
  assert.ok(email.verified_at, 'verified by the mailed code');
});

test('config check accepts the Cloudron and playbook seed examples and the MAS documentation samples', async () => {
  const fixtures = FIXTURES_DIR;
  const seeds = await mauth.cli('-c', join(fixtures, 'matrix-section-from-cloudron-guide.yaml'), '-c', join(fixtures, 'upstream-provider-from-playbook-docs.yaml'), 'config', 'check');
  assert.equal(seeds.code, 0, seeds.stderr);
  assert.match(seeds.stdout, /config is valid/);
  assert.match(seeds.stderr, /warning: upstream_oauth2\.providers\[0\]\.client_secret/);

  const samples = join(dir, 'mas-docs.yaml');
  await writeFile(
    samples,
    YAML.stringify({
      upstream_oauth2: {
        providers: [
          {
            id: '01H8PKNWKKRPCBW4YGH1RWV279',
            issuer: 'https://keycloak.example/realms/matrix',
            token_endpoint_auth_method: 'client_secret_basic',
            client_id: 'matrix-authentication-service',
            client_secret: 'secret',
            scope: 'openid profile email',
            claims_imports: {
              localpart: { action: 'require', template: '{{ user.preferred_username }}' },
              displayname: { action: 'suggest', template: '{{ user.name }}' },
              email: { action: 'suggest', template: '{{ user.email }}', set_email_verification: 'always' },
            },
          },
          {
            id: '01HFS67GJ145HCM9ZASYS9DC3J',
            human_name: 'GitHub',
            brand_name: 'github',
            discovery_mode: 'disabled',
            fetch_userinfo: true,
            token_endpoint_auth_method: 'client_secret_post',
            client_id: 'id',
            client_secret: 'secret',
            authorization_endpoint: 'https://github.com/login/oauth/authorize',
            token_endpoint: 'https://github.com/login/oauth/access_token',
            userinfo_endpoint: 'https://api.github.com/user',
            scope: 'read:user',
            claims_imports: {
              subject: { template: '{{ userinfo_claims.id }}' },
              displayname: { action: 'suggest', template: '{{ userinfo_claims.name }}' },
              localpart: { action: 'ignore' },
              email: { action: 'suggest', template: '{{ userinfo_claims.email }}' },
              account_name: { template: '@{{ userinfo_claims.login }}' },
            },
          },
          {
            id: '01HFRPWGR6BG9SAGAKDTQHG2R2',
            human_name: 'Microsoft Azure AD',
            issuer: 'https://login.microsoftonline.com/tenant/v2.0',
            client_id: 'id',
            client_secret: 'secret',
            token_endpoint_auth_method: 'client_secret_post',
            scope: 'openid profile email',
            discovery_mode: 'insecure',
            claims_imports: {
              localpart: { action: 'require', template: "{{ (user.preferred_username | split('@'))[0] }}" },
              account_name: { template: '{{ user.preferred_username }}' },
            },
          },
        ],
      },
    }),
  );
  const docs = await mauth.cli('-c', samples, 'config', 'check');
  assert.equal(docs.code, 0, docs.stderr);

  const broken = join(dir, 'broken.yaml');
  await writeFile(broken, YAML.stringify({ upstream_oauth2: { providers: [{ ...providers[0], claims_imports: { localpart: { action: 'force', template: '{{ user.name ' } } }] } }));
  const refused = await mauth.cli('-c', broken, 'config', 'check');
  assert.notEqual(refused.code, 0);
  assert.match(refused.stderr, /upstream_oauth2\.providers\[0\]\.claims_imports\.localpart\.template.*not a valid template/);
});

test('config sync disables providers no longer configured, and --prune deletes them with their links', async () => {
  const fewer = join(dir, 'fewer.yaml');
  await writeFile(fewer, YAML.stringify({ upstream_oauth2: { providers: [providers[0]] } }));
  const disabled = await mauth.cli('-c', fewer, 'config', 'sync');
  assert.equal(disabled.code, 0, disabled.stderr);
  assert.match(disabled.stdout, new RegExp(`upstream provider ${BROKEN}: not configured, disabled`));
  await errorPage(await new Browser(mauth.url).get(`/upstream/authorize/${BROKEN}`), 404, /turned off/);
  const dry = await mauth.cli('-c', fewer, 'config', 'sync', '--prune', '--dry-run');
  assert.match(dry.stdout, new RegExp(`upstream provider ${BROKEN}: not configured, would be deleted`));
  assert.equal((await db`SELECT 1 FROM upstream_oauth_providers`).length, 6);
  const pruned = await mauth.cli('-c', fewer, 'config', 'sync', '--prune');
  assert.match(pruned.stdout, new RegExp(`upstream provider ${DOWN}: not configured, deleted with its links`));
  assert.deepEqual((await db<{ id: string }[]>`SELECT id FROM upstream_oauth_providers`).map((r) => r.id), [MAIN]);
  assert.equal((await db`SELECT 1 FROM upstream_oauth_links`).length, 1, "frank's link to the kept provider stays");
});
