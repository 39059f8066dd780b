// Black box: security findings of issue 8 around the OAuth 2.0 side — no server-side fetches for
// dynamic clients, refresh-token theft made visible, no cookie value at rest, and a password
// reset that leaves no grant (not even an unexchanged code) behind.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { SignJWT, generateKeyPair } from 'jose';
import postgres from 'postgres';
import type { HomeserverDouble } from '../support/homeserver-double.js';
import { startSetup, type Setup } from '../support/homeserver-setup.js';
import { Browser, location, parseForms } from '../support/http-client.js';
import type { MauthInstance } from '../support/mauth-process.js';
import { authorize, introspect, pkce, registerClient, tokenRequest, type RegisteredClient } from '../support/oauth-client.js';
import type { SmtpCatcher } from '../support/smtp.js';

const SERVER_NAME = 'hardening.test';
const scopeFor = (device: string) => `openid urn:matrix:client:api:* urn:matrix:client:device:${device}`;
const device = () => `DEV${randomBytes(6).toString('hex').toUpperCase()}`;

let setup: Setup<MauthInstance>;
let hs: HomeserverDouble;
let smtp: SmtpCatcher;
let mauth: MauthInstance;
let client: RegisteredClient;

before(async () => {
  setup = await startSetup({
    serverName: SERVER_NAME,
    mailFrom: '"Auth" <auth@hardening.test>',
    extra: {
      account: { password_recovery_enabled: true },
      rate_limiting: {
        login: { per_ip: { burst: 10000, per_second: 1000 }, per_account: { burst: 10000, per_second: 1000 } },
        account_recovery: { per_ip: { burst: 1000, per_second: 100 }, per_address: { burst: 1000, per_second: 100 } },
      },
    },
    users: ['alice', 'bob', 'carol'].map((name) => ({ name, password: `${name}-Password-1!`, email: `${name}@mail.test` })),
    nativeClient: true,
  });
  ({ hs, smtp, mauth, client } = setup);
});

after(() => setup?.stop());

/** A listener that counts every TCP connection made to it (and answers an empty key set). */
async function startSpy(): Promise<{ url: string; connections: () => number; stop(): Promise<void> }> {
  let connections = 0;
  const server: Server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ keys: [], redirect_uris: ['http://127.0.0.1/cb'] }));
  });
  server.on('connection', () => (connections += 1));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    connections: () => connections,
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

async function signedIn(username: string) {
  const { params, verifier } = await authorize(new Browser(mauth.url), { client, scope: scopeFor(device()), username, password: `${username}-Password-1!` });
  const tokens = await tokenRequest(mauth.url, { grant_type: 'authorization_code', code: params.get('code')!, redirect_uri: client.redirect_uri, client_id: client.client_id, code_verifier: verifier });
  assert.equal(tokens.status, 200, JSON.stringify(tokens.body));
  return tokens.body as { access_token: string; refresh_token: string };
}

const refresh = (token: string) => tokenRequest(mauth.url, { grant_type: 'refresh_token', refresh_token: token, client_id: client.client_id });

test('a dynamic client cannot make Mauth connect to a URI of its choosing (jwks_uri, sector_identifier_uri)', async () => {
  const spy = await startSpy();
  try {
    const base = {
      application_type: 'native',
      client_uri: 'https://app.example.org/',
      redirect_uris: ['http://127.0.0.1/cb'],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
    };
    const registered = await registerClient(mauth.url, { ...base, token_endpoint_auth_method: 'private_key_jwt', jwks_uri: `${spy.url}/jwks` });
    const body = (await registered.json()) as { client_id?: string; error?: string };
    // Today's code registers it; a token request then makes Mauth fetch the key set.
    const clientId = body.client_id ?? 'not-registered';
    const { privateKey } = await generateKeyPair('ES256');
    const assertion = await new SignJWT({})
      .setProtectedHeader({ alg: 'ES256', kid: 'k1' })
      .setIssuer(clientId)
      .setSubject(clientId)
      .setAudience(`${mauth.url}/oauth2/token`)
      .setJti(randomBytes(8).toString('hex'))
      .setIssuedAt()
      .setExpirationTime('1m')
      .sign(privateKey);
    const token = await tokenRequest(mauth.url, {
      grant_type: 'authorization_code',
      code: 'whatever',
      redirect_uri: 'http://127.0.0.1/cb',
      client_id: clientId,
      client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
      client_assertion: assertion,
    });
    assert.equal(token.status, 401, JSON.stringify(token.body));
    assert.equal(spy.connections(), 0, 'Mauth connected to the jwks_uri of a dynamic client');
    assert.equal(registered.status, 400, JSON.stringify(body));
    assert.equal(body.error, 'invalid_client_metadata');

    for (const extra of [
      { token_endpoint_auth_method: 'none', jwks_uri: `${spy.url}/jwks` },
      { token_endpoint_auth_method: 'none', jwks: { keys: [] } },
      { token_endpoint_auth_method: 'client_secret_jwt' },
      { token_endpoint_auth_method: 'none', sector_identifier_uri: `${spy.url}/sector` },
    ]) {
      const res = await registerClient(mauth.url, { ...base, ...extra });
      const refused = (await res.json()) as { error?: string };
      assert.equal(res.status, 400, `${JSON.stringify(extra)} → ${JSON.stringify(refused)}`);
      assert.equal(refused.error, 'invalid_client_metadata');
    }
    assert.equal(spy.connections(), 0, 'no registration made Mauth connect anywhere');

    // What MAS allows dynamically still works: public clients and client secrets.
    const confidential = await registerClient(mauth.url, { ...base, token_endpoint_auth_method: 'client_secret_basic' });
    const secretClient = (await confidential.json()) as { client_secret?: string };
    assert.equal(confidential.status, 201, JSON.stringify(secretClient));
    assert.ok(secretClient.client_secret);
  } finally {
    await spy.stop();
  }
});

test('a refresh revokes the access token it replaces', async () => {
  const first = await signedIn('alice');
  const next = await refresh(first.refresh_token);
  assert.equal(next.status, 200, JSON.stringify(next.body));
  assert.equal((await introspect(mauth.url, mauth.secret, first.access_token)).body.active, false, 'the replaced access token is revoked');
  assert.equal((await introspect(mauth.url, mauth.secret, next.body.access_token)).body.active, true);
});

test('a thief replaying a refresh token in the grace window is found out when the real client refreshes: both are logged out', async () => {
  const dev = device();
  const { params, verifier } = await authorize(new Browser(mauth.url), { client, scope: scopeFor(dev), username: 'alice', password: 'alice-Password-1!' });
  const first = await tokenRequest(mauth.url, { grant_type: 'authorization_code', code: params.get('code')!, redirect_uri: client.redirect_uri, client_id: client.client_id, code_verifier: verifier });
  // The real client refreshes (R1 → R2) and has not used its new access token yet.
  const legit = await refresh(first.body.refresh_token);
  assert.equal(legit.status, 200, JSON.stringify(legit.body));
  // The thief replays the stolen R1 within the grace: it looks like a lost response, so it works once.
  const stolen = await refresh(first.body.refresh_token);
  assert.equal(stolen.status, 200, JSON.stringify(stolen.body));
  // The real client's next refresh presents R2, which the grace replaced: the whole session ends.
  const found = await refresh(legit.body.refresh_token);
  assert.equal(found.status, 400, JSON.stringify(found.body));
  assert.equal(found.body.error, 'invalid_grant');
  const thiefAgain = await refresh(stolen.body.refresh_token);
  assert.equal(thiefAgain.body.error, 'invalid_grant', "the thief's refresh token is dead too");
  assert.equal((await introspect(mauth.url, mauth.secret, stolen.body.access_token)).body.active, false, "the thief's access token is dead too");
  await hs.waitFor((c) => c.path.endsWith('/delete_device') && (c.body as { device_id?: string })?.device_id === dev, 5000);
});

test('no table holds the value of a browser-session cookie', async () => {
  const browser = new Browser(mauth.url);
  const { challenge } = pkce();
  let res = await browser.get(
    `/authorize?${new URLSearchParams({
      client_id: client.client_id,
      redirect_uri: client.redirect_uri,
      response_type: 'code',
      scope: scopeFor(device()),
      state: 'st',
      code_challenge: challenge,
      code_challenge_method: 'S256',
    })}`,
  );
  // Sign in, then stop on the consent page: its interaction is stored, carrying the session.
  let html = '';
  for (let step = 0; step < 10; step += 1) {
    if (res.status === 302 || res.status === 303) {
      res = await browser.get(location(res));
      continue;
    }
    html = await res.text();
    const login = parseForms(html).find((f) => f.action.endsWith('/login'));
    if (!login) break;
    res = await browser.postForm(login.action, { ...login.fields, username: 'bob', password: 'bob-Password-1!' });
  }
  assert.ok(parseForms(html).some((f) => f.action.endsWith('/consent')), `the consent page: ${html.slice(0, 300)}`);

  // The values as the server set them: Mauth's own signed cookie (s:<secret>.<signature>) and
  // oidc-provider's session cookie (the id, signed in a companion .sig cookie).
  const ours = decodeURIComponent(browser.cookie('mauth.session') ?? '');
  const secret = /^s:(.+)\.[^.]+$/.exec(ours)?.[1];
  const oidcSession = browser.cookie('mauth.oidc');
  assert.ok(secret && secret.length >= 32, `mauth.session cookie: ${ours}`);
  assert.ok(oidcSession && oidcSession.length >= 16, 'mauth.oidc cookie');

  const sql = postgres(mauth.databaseUrl, { max: 1, onnotice: () => {} });
  try {
    const interactions = await sql`SELECT count(*)::int AS n FROM oidc_payloads WHERE model = 'Interaction'`;
    assert.ok(interactions[0].n > 0, 'the pending interaction is stored');
    const tables = await sql<{ table_name: string }[]>`
      SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'`;
    for (const { table_name: table } of tables) {
      const cookies: [string, string][] = [['mauth.session', secret], ['mauth.oidc', oidcSession]];
      for (const [name, value] of cookies) {
        const rows: { row: string }[] = await sql`SELECT t::text AS row FROM ${sql(table)} t WHERE strpos(t::text, ${value}) > 0`;
        assert.equal(rows.length, 0, `${table} holds the ${name} cookie value: ${rows[0]?.row.slice(0, 300)}`);
      }
    }
  } finally {
    await sql.end();
  }
});

test('a password reset revokes every grant of the account, an authorization code not yet exchanged included', async () => {
  const { params, verifier } = await authorize(new Browser(mauth.url), { client, scope: scopeFor(device()), username: 'carol', password: 'carol-Password-1!' });
  const code = params.get('code');
  assert.ok(code);

  const browser = new Browser(mauth.url);
  let res = await browser.get('/recover');
  let form = parseForms(await res.text())[0];
  res = await browser.postForm(form.action, { ...form.fields, email: 'carol@mail.test' });
  assert.equal(res.status, 200);
  const mail = await smtp.waitFor((m) => m.to.includes('carol@mail.test') && /reset/i.test(m.subject), 30_000);
  const link = /(http:\/\/\S+recover\/complete\?ticket=\S+)/.exec(mail.text)?.[1];
  assert.ok(link, mail.text);
  res = await browser.get(link);
  form = parseForms(await res.text()).find((f) => f.action.endsWith('/recover/complete'))!;
  res = await browser.postForm(form.action, { ...form.fields, password: 'Another-Password-88!', password_confirm: 'Another-Password-88!' });
  assert.equal(res.status, 200);
  assert.match(await res.text(), /Password changed/);

  const exchange = await tokenRequest(mauth.url, { grant_type: 'authorization_code', code: code!, redirect_uri: client.redirect_uri, client_id: client.client_id, code_verifier: verifier });
  assert.equal(exchange.status, 400, `the code issued before the reset still works: ${JSON.stringify(exchange.body)}`);
  assert.equal(exchange.body.error, 'invalid_grant');
});

test('no request in this file produced a 5xx', () => {
  assert.doesNotMatch(mauth.output(), /"status":5\d\d|request failed|unhandled error|"level":50/);
});
