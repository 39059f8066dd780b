// Black box: signing in through an upstream OpenID Connect provider. A second, real oidc-provider
// in this process plays Keycloak; Mauth runs as its own process with the playbook's provider block
// (client_secret_post, discovery) and a second provider with client_secret_basic, PKCE always,
// discovery disabled and response_mode form_post. Everything goes through HTML forms over HTTP.
import assert from 'node:assert/strict';
import { fixture } from '../support/fixtures.js';
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { after, before, test } from 'node:test';
import { SignJWT, generateKeyPair } from 'jose';
import postgres from 'postgres';
import { ulid } from 'ulid';
import YAML from 'yaml';
import { startHomeserverDouble, type HomeserverDouble } from '../support/homeserver-double.js';
import { Browser, decodeEntities, location, parseForms } from '../support/http-client.js';
import { createMauth, freePort, type MauthInstance } from '../support/mauth-process.js';
import { introspect, pkce, registerClient, tokenRequest, type RegisteredClient } from '../support/oauth-client.js';
import { follow, startUpstreamProvider, submitFormPost, upstreamLogin, type UpstreamProviderDouble } from '../support/upstream-provider.js';

const SERVER_NAME = 'upstream.test';
const PLAYBOOK = '01HFVBY12TMNTYTBV8W921M5FA'; // the id in the playbook's example
const CORP = ulid();
const ADD = ulid();
const SECRET_POST = 'f4f6bb68a0269264877e9cb23b1856ab';
const SECRET_BASIC = randomBytes(16).toString('hex');
const SECRET_ADD = randomBytes(16).toString('hex');

let hs: HomeserverDouble;
let mauth: MauthInstance;
let idp: UpstreamProviderDouble;
let db: postgres.Sql;
let client: RegisteredClient;

/** The playbook documentation's provider block, with its commented-out claims_imports turned on. */
async function playbookProvider(issuer: string): Promise<Record<string, unknown>> {
  const text = (await readFile(fixture('upstream-provider-from-playbook-docs.yaml'), 'utf8'))
    .replace('issuer: https://example.com/', `issuer: ${issuer}`)
    .replace('client_id: mas-fb3f0c09c4c23de4', 'client_id: mauth-playbook')
    .replace(`#client_secret: ${SECRET_POST}`, `client_secret: ${SECRET_POST}`)
    .replace(/#(action|template): /g, '$1: ');
  const [provider] = (YAML.parse(text) as { upstream_oauth2: { providers: Record<string, unknown>[] } }).upstream_oauth2.providers;
  assert.deepEqual((provider.claims_imports as any).localpart, { action: 'force', template: '{{ user.preferred_username }}' });
  return { ...provider, on_backchannel_logout: 'logout_all' };
}

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
          await playbookProvider(issuer),
          {
            id: CORP,
            human_name: 'Corporate SSO',
            brand_name: 'gitlab',
            synapse_idp_id: 'oidc-corp',
            issuer,
            client_id: 'mauth-pkce-basic',
            client_secret: SECRET_BASIC,
            token_endpoint_auth_method: 'client_secret_basic',
            scope: 'openid profile email',
            discovery_mode: 'disabled',
            authorization_endpoint: `${issuer}/auth`,
            token_endpoint: `${issuer}/token`,
            jwks_uri: `${issuer}/jwks`,
            userinfo_endpoint: `${issuer}/me`,
            fetch_userinfo: true,
            pkce_method: 'always',
            response_mode: 'form_post',
            claims_imports: {
              localpart: { action: 'require' },
              displayname: { action: 'force' },
              email: { action: 'force' },
              account_name: { template: '{{ user.preferred_username }}@corp' },
            },
          },
          {
            id: ADD,
            human_name: 'Directory',
            issuer,
            client_id: 'mauth-add',
            client_secret: SECRET_ADD,
            token_endpoint_auth_method: 'client_secret_post',
            scope: 'openid profile email',
            claims_imports: { localpart: { action: 'require', on_conflict: 'add' }, displayname: { action: 'suggest' } },
          },
        ],
      },
    },
  });
  const callback = (id: string) => `${mauth.url}/upstream/callback/${id}`;
  idp = await startUpstreamProvider({
    port: upstreamPort,
    clients: [
      {
        client_id: 'mauth-playbook',
        client_secret: SECRET_POST,
        token_endpoint_auth_method: 'client_secret_post',
        redirect_uris: [callback(PLAYBOOK)],
        backchannel_logout_uri: `${mauth.url}/upstream/backchannel-logout/${PLAYBOOK}`,
        backchannel_logout_session_required: true,
      },
      { client_id: 'mauth-pkce-basic', client_secret: SECRET_BASIC, token_endpoint_auth_method: 'client_secret_basic', redirect_uris: [callback(CORP)] },
      { client_id: 'mauth-add', client_secret: SECRET_ADD, token_endpoint_auth_method: 'client_secret_post', redirect_uris: [callback(ADD)] },
    ],
    accounts: [
      { sub: 'kc-alice', password: 'alice-upstream', preferred_username: 'alice', email: 'alice@corp.test', email_verified: true, name: 'Alice Liddell' },
      { sub: 'kc-bob', password: 'bob-upstream', preferred_username: 'bob', email: 'bob@corp.test', email_verified: true, name: 'Bob Builder' },
      { sub: 'kc-carol', password: 'carol-upstream', preferred_username: 'carol', email: 'carol@corp.test', email_verified: true, name: 'Carol Upstream' },
      { sub: 'kc-dave', password: 'dave-upstream', preferred_username: 'dave-upstream-name', email: 'dave@corp.test', email_verified: true, name: 'Dave' },
      { sub: 'kc-frida', password: 'frida-upstream', preferred_username: 'Frida', email: 'frida@corp.test', email_verified: true, name: 'Frida' },
    ],
  });
  const made = await mauth.cli('manage', 'register-user', 'carol', '--password', 'carol-local-1', '--yes');
  assert.equal(made.code, 0, made.stderr);
  assert.equal((await mauth.cli('manage', 'register-user', 'frida', '--password', 'frida-local-1', '--yes')).code, 0);
  await mauth.start();
  db = postgres(mauth.databaseUrl, { max: 2, onnotice: () => {} });
  const res = await registerClient(mauth.url, {
    client_name: 'Element X (test)',
    application_type: 'native',
    client_uri: 'https://app.example.org/',
    redirect_uris: ['http://127.0.0.1/callback'],
    grant_types: ['authorization_code', 'refresh_token'],
    token_endpoint_auth_method: 'none',
    response_types: ['code'],
  });
  assert.equal(res.status, 201);
  client = { client_id: ((await res.json()) as any).client_id, redirect_uri: 'http://127.0.0.1/callback' };
});

after(async () => {
  await db?.end();
  await mauth?.stop();
  await mauth?.drop();
  await idp?.stop();
  await hs?.stop();
});

/** The provider buttons of a Mauth login page. */
function buttons(html: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const m of html.matchAll(/<a class="upstream-button" href="([^"]+)">(?:<img[^>]*>)?Continue with ([^<]+)<\/a>/g)) out.set(m[2], decodeEntities(m[1]));
  return out;
}

/** Starts a Matrix client's authorization request and returns the Mauth login page. */
async function startAuthorization(browser: Browser, deviceId: string) {
  const { verifier, challenge } = pkce();
  const state = randomBytes(8).toString('hex');
  const query = new URLSearchParams({
    client_id: client.client_id,
    redirect_uri: client.redirect_uri,
    response_type: 'code',
    scope: `openid urn:matrix:client:api:* urn:matrix:client:device:${deviceId}`,
    state,
    code_challenge: challenge,
    code_challenge_method: 'S256',
  });
  const page = await follow(browser, await browser.get(`/authorize?${query}`));
  assert.equal(page.status, 200);
  return { page, html: await page.text(), verifier, state };
}

/** From a page on Mauth after sign-in: consent, then the code for the client. */
async function consentAndExchange(browser: Browser, res: Response, verifier: string, state: string) {
  res = await follow(browser, res, client.redirect_uri);
  if (res.status === 200) {
    const html = await res.text();
    const consent = parseForms(html).find((f) => f.action.endsWith('/consent'));
    assert.ok(consent, `expected the consent page: ${html.slice(0, 400)}`);
    res = await follow(browser, await browser.postForm(consent.action, { ...consent.fields, decision: 'allow' }), client.redirect_uri);
  }
  const redirect = new URL(location(res));
  assert.equal(redirect.searchParams.get('state'), state);
  const code = redirect.searchParams.get('code');
  assert.ok(code, `no code in ${redirect.href}`);
  const tokens = await tokenRequest(mauth.url, {
    grant_type: 'authorization_code',
    code,
    redirect_uri: client.redirect_uri,
    client_id: client.client_id,
    code_verifier: verifier,
  });
  assert.equal(tokens.status, 200, JSON.stringify(tokens.body));
  return tokens.body as { access_token: string; refresh_token: string };
}

async function signOut(browser: Browser) {
  const page = await browser.get('/logout');
  const form = parseForms(await page.text()).find((f) => f.action === '/logout');
  assert.ok(form);
  await browser.postForm('/logout', form.fields);
}

async function linksOf(username: string) {
  const rows = await db<{ provider_id: string; subject: string }[]>`
    SELECT l.provider_id, l.subject FROM upstream_oauth_links l JOIN users u ON u.id = l.user_id WHERE u.username = ${username} ORDER BY l.provider_id`;
  return rows.map((r) => ({ ...r }));
}

let alice: Browser;
let aliceTokens: { access_token: string };

test('end to end: client → login page → provider button → Keycloak → registration pre-filled from claims → tokens; the homeserver provisioned the account', async () => {
  alice = new Browser(mauth.url);
  const { html, verifier, state } = await startAuthorization(alice, 'ALICEPHONE1');
  const offered = buttons(html);
  assert.deepEqual([...offered.keys()], [new URL(idp.issuer).host, 'Corporate SSO', 'Directory'], 'one button per provider, named by human_name or issuer');
  const button = [...offered.values()].find((href) => href.startsWith(`/upstream/authorize/${PLAYBOOK}?`));
  assert.ok(button, `a button for the playbook provider: ${[...offered.values()].join(', ')}`);
  assert.match(button, /next=%2Finteraction%2F/);

  const upstreamPage = await follow(alice, await alice.get(button));
  assert.ok(upstreamPage.url.startsWith(idp.issuer), `the browser is at the provider: ${upstreamPage.status} ${upstreamPage.url} ${(await upstreamPage.clone().text()).slice(0, 600)}`);
  const register = await upstreamLogin(alice, upstreamPage, 'alice', 'alice-upstream');
  const registerHtml = await register.text();
  assert.equal(register.status, 200, registerHtml.slice(0, 500));
  assert.match(registerHtml, /Create your account/);
  assert.match(registerHtml, /value="alice" readonly/, 'the forced localpart is shown, not editable');
  assert.match(registerHtml, /Alice Liddell/);
  assert.match(registerHtml, /alice@corp\.test/);
  const form = parseForms(registerHtml).find((f) => f.fields.action === 'register');
  assert.ok(form);
  assert.equal(form.fields.import_display_name, 'on');
  assert.equal(form.fields.import_email, 'on');
  // A forced localpart cannot be overridden by the form.
  const created = await alice.postForm(form.action, { ...form.fields, username: 'mallory' });
  assert.equal(created.status, 303);
  aliceTokens = await consentAndExchange(alice, created, verifier, state);

  const info = await introspect(mauth.url, mauth.secret, aliceTokens.access_token);
  assert.equal(info.body.active, true);
  assert.equal(info.body.username, 'alice');
  const [user] = await db<{ id: string; display_name: string }[]>`SELECT id, display_name FROM users WHERE username = 'alice'`;
  assert.equal(user.display_name, 'Alice Liddell');
  const emails = await db<{ email: string; verified_at: Date | null }[]>`SELECT email, verified_at FROM user_emails WHERE user_id = ${user.id}`;
  assert.equal(emails.length, 1);
  assert.equal(emails[0].email, 'alice@corp.test');
  assert.ok(emails[0].verified_at, 'email_verified: true imports a verified address');
  assert.deepEqual(await linksOf('alice'), [{ provider_id: PLAYBOOK, subject: 'kc-alice' }]);
  const provisioned = await hs.waitFor((c) => c.path.endsWith('/provision_user') && (c.body as any)?.localpart === 'alice', 10_000);
  assert.equal((provisioned.body as any).set_displayname, 'Alice Liddell');
  assert.deepEqual((provisioned.body as any).set_emails, ['alice@corp.test']);
});

test('a second login by the same upstream subject lands in the same account without questions', async () => {
  await signOut(alice);
  const { html, verifier, state } = await startAuthorization(alice, 'ALICEPHONE2');
  const button = [...buttons(html).values()].find((href) => href.includes(PLAYBOOK))!;
  // The provider still has its own session: no form there, none here; straight to consent.
  const back = await follow(alice, await alice.get(button), client.redirect_uri);
  if (back.status === 200) assert.doesNotMatch(await back.clone().text(), /Create your account|name="password"/, 'no registration or login form');
  const tokens = await consentAndExchange(alice, back, verifier, state);
  assert.equal((await introspect(mauth.url, mauth.secret, tokens.access_token)).body.username, 'alice');
  const [{ n }] = await db<{ n: number }[]>`SELECT count(*)::int AS n FROM users WHERE username LIKE 'alice%'`;
  assert.equal(n, 1);
});

let bob: Browser;

test('client_secret_basic + PKCE always + discovery disabled + form_post; a changed name with displayname: force reaches the homeserver', async () => {
  bob = new Browser(mauth.url);
  const login = await bob.get('/login?next=/account/');
  const button = buttons(await login.text()).get('Corporate SSO');
  assert.ok(button);
  assert.equal(button, `/upstream/authorize/${CORP}?next=%2Faccount%2F`);
  const authorize = await bob.get(button);
  const target = new URL(location(authorize));
  assert.equal(target.origin + target.pathname, `${idp.issuer}/auth`);
  assert.equal(target.searchParams.get('response_mode'), 'form_post');
  assert.equal(target.searchParams.get('code_challenge_method'), 'S256');
  assert.ok(target.searchParams.get('nonce'));
  const formPost = await upstreamLogin(bob, await follow(bob, await bob.get(target.href)), 'bob', 'bob-upstream');
  assert.equal(formPost.status, 200, 'the provider answers with an auto-posting form');
  const register = await follow(bob, await submitFormPost(bob, formPost));
  const html = await register.text();
  assert.equal(register.status, 200, html.slice(0, 500));
  assert.match(html, /value="bob" readonly/);
  assert.match(html, /Display name: <strong>Bob Builder<\/strong>/, 'a forced display name is not optional');
  assert.match(html, /bob@corp\.test@corp|bob@corp/);
  const form = parseForms(html).find((f) => f.fields.action === 'register')!;
  const account = await follow(bob, await bob.postForm(form.action, form.fields));
  assert.equal(account.status, 200);
  assert.match(await account.text(), /@bob:upstream\.test/);
  await hs.waitFor((c) => c.path.endsWith('/provision_user') && (c.body as any)?.localpart === 'bob' && (c.body as any)?.set_displayname === 'Bob Builder', 10_000);

  // The name changes at the provider; the next sign-in carries it to the account and the homeserver.
  idp.accounts.get('kc-bob')!.name = 'Robert Builder';
  await signOut(bob);
  const again = await follow(bob, await bob.get(`/upstream/authorize/${CORP}?next=/account/`));
  const landed = await follow(bob, await submitFormPost(bob, again));
  assert.equal(landed.status, 200);
  assert.match(await landed.text(), /@bob:upstream\.test/, 'signed in without a registration page');
  const call = await hs.waitFor((c) => c.path.endsWith('/provision_user') && (c.body as any)?.localpart === 'bob' && (c.body as any)?.set_displayname === 'Robert Builder', 10_000);
  assert.ok(call);
  assert.equal(hs.users.get('bob')?.displayName, 'Robert Builder');
  const [link] = await db<{ human_account_name: string }[]>`SELECT human_account_name FROM upstream_oauth_links WHERE subject = 'kc-bob'`;
  assert.equal(link.human_account_name, 'bob@corp');
});

test('legacy SSO: identity_providers lists the providers; sso/redirect/{idp} goes straight to that provider and back with a login token', async () => {
  const flows = (await (await fetch(`${mauth.url}/_matrix/client/v3/login`)).json()) as any;
  const sso = flows.flows.find((f: any) => f.type === 'm.login.sso');
  const ids = sso.identity_providers.map((p: any) => p.id);
  assert.deepEqual(ids, [`oidc-${PLAYBOOK}`, 'oidc-corp', `oidc-${ADD}`]);
  assert.equal(sso.identity_providers[1].brand, 'gitlab');

  await signOut(bob);
  const start = await bob.get('/_matrix/client/v3/login/sso/redirect/oidc-corp?redirectUrl=https%3A%2F%2Fclient.example%2Fsso');
  assert.equal(start.status, 303);
  const to = new URL(location(start));
  assert.equal(to.pathname, `/upstream/authorize/${CORP}`);
  assert.match(to.searchParams.get('next') ?? '', /^\/complete-compat-sso\//);
  const formPost = await follow(bob, await bob.get(to.href));
  const confirm = await follow(bob, await submitFormPost(bob, formPost));
  const html = await confirm.text();
  const form = parseForms(html).find((f) => f.action.startsWith('/complete-compat-sso/'));
  assert.ok(form, html.slice(0, 400));
  const done = await bob.postForm(form.action, { ...form.fields, decision: 'continue' });
  const token = new URL(location(done)).searchParams.get('loginToken');
  assert.ok(token);
  const login = await fetch(`${mauth.url}/_matrix/client/v3/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ type: 'm.login.token', token }),
  });
  assert.equal(login.status, 200);
  assert.equal(((await login.json()) as any).user_id, '@bob:upstream.test');
  // The provider's own id works too.
  const byId = await fetch(`${mauth.url}/_matrix/client/r0/login/sso/redirect/${ADD}?redirectUrl=https%3A%2F%2Fclient.example%2Fsso`, { redirect: 'manual' });
  assert.equal(new URL(location(byId)).pathname, `/upstream/authorize/${ADD}`);
});

test('on_conflict: fail shows a clear error for a taken localpart and links nothing; add links to the existing account', async () => {
  const carol = new Browser(mauth.url);
  const failed = await upstreamLogin(carol, await follow(carol, await carol.get(`/upstream/authorize/${PLAYBOOK}?next=/account/`)), 'carol', 'carol-upstream');
  assert.equal(failed.status, 409);
  const html = await failed.text();
  assert.match(html, /Username already taken/);
  assert.match(html, /carol/);
  assert.deepEqual(await linksOf('carol'), []);
  assert.equal((await carol.get('/account/')).status, 303, 'not signed in');

  const added = await follow(carol, await carol.get(`/upstream/authorize/${ADD}?next=/account/`));
  assert.equal(added.status, 200);
  assert.match(await added.text(), /@carol:upstream\.test/, 'signed in to the existing account');
  assert.deepEqual(await linksOf('carol'), [{ provider_id: ADD, subject: 'kc-carol' }]);
  const [{ n }] = await db<{ n: number }[]>`SELECT count(*)::int AS n FROM users WHERE username LIKE 'carol%'`;
  assert.equal(n, 1);

  // `Frida` upstream is not `frida` here: no linking on a name that only matches once lower-cased.
  const frida = new Browser(mauth.url);
  const refused = await upstreamLogin(frida, await follow(frida, await frida.get(`/upstream/authorize/${ADD}?next=/account/`)), 'kc-frida', 'frida-upstream');
  assert.equal(refused.status, 409, await refused.clone().text());
  assert.deepEqual(await linksOf('frida'), []);
});

test('manage register-user --upstream-provider-mapping links the new account; that subject then signs straight in', async () => {
  const bad = await mauth.cli('manage', 'register-user', 'erin', '--upstream-provider-mapping', `${ulid()}:x`, '--yes');
  assert.notEqual(bad.code, 0);
  assert.match(bad.stderr, /no upstream provider/);
  assert.equal((await db`SELECT 1 FROM users WHERE username = 'erin'`).length, 0, 'nothing created');

  const made = await mauth.cli('manage', 'register-user', 'dave', '--upstream-provider-mapping', `${PLAYBOOK}:kc-dave`, '--yes');
  assert.equal(made.code, 0, made.stderr);
  assert.deepEqual(await linksOf('dave'), [{ provider_id: PLAYBOOK, subject: 'kc-dave' }]);
  const taken = await mauth.cli('manage', 'register-user', 'dave2', '--upstream-provider-mapping', `${PLAYBOOK}:kc-dave`, '--yes');
  assert.notEqual(taken.code, 0);
  assert.equal((await db`SELECT 1 FROM users WHERE username = 'dave2'`).length, 0);

  const dave = new Browser(mauth.url);
  const landed = await upstreamLogin(dave, await follow(dave, await dave.get(`/upstream/authorize/${PLAYBOOK}?next=/account/`)), 'kc-dave', 'dave-upstream');
  assert.equal(landed.status, 200);
  assert.match(await landed.text(), /@dave:upstream\.test/);
});

test('back-channel logout: a forged logout token is refused; the provider\'s own logout with logout_all ends the sessions', async () => {
  const forgedKey = await generateKeyPair('RS256');
  const forged = await new SignJWT({ events: { 'http://schemas.openid.net/event/backchannel-logout': {} }, sub: 'kc-alice' })
    .setProtectedHeader({ alg: 'RS256', kid: 'upstream-key' })
    .setIssuer(idp.issuer)
    .setAudience('mauth-playbook')
    .setIssuedAt()
    .setJti(randomBytes(8).toString('hex'))
    .sign(forgedKey.privateKey);
  const refused = await fetch(`${mauth.url}/upstream/backchannel-logout/${PLAYBOOK}`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ logout_token: forged }).toString(),
  });
  assert.equal(refused.status, 400);
  assert.equal(((await refused.json()) as any).error, 'invalid_request');
  assert.equal((await introspect(mauth.url, mauth.secret, aliceTokens.access_token)).body.active, true, 'still signed in');

  // Genuine tokens about someone else (by subject only) or about nobody end no session of Alice.
  const genuine = (claims: Record<string, unknown>) =>
    new SignJWT({ events: { 'http://schemas.openid.net/event/backchannel-logout': {} }, ...claims })
      .setProtectedHeader({ alg: 'RS256', kid: 'upstream-key' })
      .setIssuer(idp.issuer)
      .setAudience('mauth-playbook')
      .setIssuedAt()
      .setExpirationTime('2m')
      .setJti(randomBytes(8).toString('hex'))
      .sign(idp.signingKey);
  for (const claims of [{ sub: 'kc-somebody-else' }, {}]) {
    const res = await fetch(`${mauth.url}/upstream/backchannel-logout/${PLAYBOOK}`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ logout_token: await genuine(claims) }).toString(),
    });
    assert.ok(res.status === 200 || res.status === 400, `${JSON.stringify(claims)} → ${res.status}`);
    assert.equal((await introspect(mauth.url, mauth.secret, aliceTokens.access_token)).body.active, true, `${JSON.stringify(claims)} left Alice signed in`);
  }
  // A token is acted on once: its replay is refused.
  const once = await genuine({ sub: 'kc-somebody-else' });
  const send = () =>
    fetch(`${mauth.url}/upstream/backchannel-logout/${PLAYBOOK}`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ logout_token: once }).toString(),
    });
  assert.equal((await send()).status, 200);
  const replayed = await send();
  assert.equal(replayed.status, 400);
  assert.match(((await replayed.json()) as { error_description: string }).error_description, /already used/);

  // Alice signs out at the provider; it notifies Mauth over the back channel.
  const page = await alice.get(`${idp.issuer}/session/end`);
  const html = await page.text();
  const form = parseForms(html)[0];
  assert.ok(form, html.slice(0, 300));
  await follow(alice, await alice.postForm(form.action, { ...form.fields, logout: 'yes' }));
  const deadline = Date.now() + 5000;
  while ((await introspect(mauth.url, mauth.secret, aliceTokens.access_token)).body.active && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  assert.equal((await introspect(mauth.url, mauth.secret, aliceTokens.access_token)).body.active, false, `${JSON.stringify(idp.backchannelLogouts)} ${mauth.output().split('\n').filter((l) => /back-channel|backchannel|"level":50/.test(l)).join('\n')}`);
  assert.ok(idp.backchannelLogouts.some((l) => l.uri.endsWith(PLAYBOOK) && l.status === 200));
  assert.equal((await alice.get('/account/')).status, 303, 'the browser session ended too');
});

test('no request in the upstream flows produced a 5xx', () => {
  assert.doesNotMatch(mauth.output(), /request failed|unhandled error|"level":50/);
});
