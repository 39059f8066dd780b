// Black box: what a password reset ends, and that it ends it even when the request cannot finish
// the work itself. The browser and legacy sessions and the legacy login tokens end with the new
// password; the OAuth 2.0 grants are ended by a job written in the same transaction, which a
// failure of the request's own attempt leaves to retry. Sessions started after the reset stay.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';
import postgres from 'postgres';
import { Browser, location, parseForms } from '../support/http-client.js';
import { startInProcessSetup, type Setup } from '../support/homeserver-setup.js';
import type { InProcessMauth } from '../support/mauth-inprocess.js';
import { authorize, introspect, tokenRequest, type RegisteredClient } from '../support/oauth-client.js';
import type { SmtpCatcher } from '../support/smtp.js';

const SERVER_NAME = 'reset.test';
const NEW_PASSWORD = 'Another-Password-88!';
const scopeFor = (device: string) => `openid urn:matrix:client:api:* urn:matrix:client:device:${device}`;

let setup: Setup<InProcessMauth>;
let smtp: SmtpCatcher;
let mauth: InProcessMauth;
let client: RegisteredClient;
let sql: postgres.Sql;

before(async () => {
  const generous = { burst: 1000, per_second: 100 };
  setup = await startInProcessSetup({
    serverName: SERVER_NAME,
    mailFrom: 'auth@reset.test',
    // A held row lock fails a statement after a second, not five.
    database: { lock_timeout: 1 },
    extra: {
      account: { password_recovery_enabled: true },
      rate_limiting: { login: { per_ip: generous, per_account: generous }, account_recovery: { per_ip: generous, per_address: generous } },
    },
    users: ['rita', 'sid'].map((name) => ({ name, password: `${name}-Password-1!`, email: `${name}@mail.test` })),
    nativeClient: true,
  });
  ({ smtp, mauth, client } = setup);
  sql = postgres(mauth.databaseUrl, { max: 2, onnotice: () => {} });
});

after(async () => {
  await sql?.end();
  await setup?.stop();
});

async function oauthLogin(username: string, password = `${username}-Password-1!`) {
  const device = `DEV${randomBytes(5).toString('hex').toUpperCase()}`;
  const { params, verifier } = await authorize(new Browser(mauth.url), { client, scope: scopeFor(device), username, password });
  const tokens = await tokenRequest(mauth.url, { grant_type: 'authorization_code', code: params.get('code')!, redirect_uri: client.redirect_uri, client_id: client.client_id, code_verifier: verifier });
  assert.equal(tokens.status, 200, JSON.stringify(tokens.body));
  return tokens.body as { access_token: string; refresh_token: string };
}

async function legacyLogin(username: string, password: string) {
  const res = await fetch(`${mauth.url}/_matrix/client/v3/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ type: 'm.login.password', identifier: { type: 'm.id.user', user: username }, password }),
  });
  return { status: res.status, body: (await res.json()) as any };
}

const active = async (token: string) => (await introspect(mauth.url, mauth.secret, token)).body.active as boolean;

/** The reset form of a freshly mailed recovery link, opened in `browser`. */
async function resetForm(browser: Browser, username: string) {
  let res = await browser.get('/recover');
  const start = parseForms(await res.text())[0];
  const before = smtp.mails.length;
  res = await browser.postForm(start.action, { ...start.fields, email: `${username}@mail.test` });
  assert.equal(res.status, 200);
  const mail = await smtp.waitFor((m) => smtp.mails.indexOf(m) >= before && m.to.includes(`${username}@mail.test`) && /reset/i.test(m.subject), 30_000);
  const link = /(http:\/\/\S+recover\/complete\?ticket=\S+)/.exec(mail.text)?.[1];
  assert.ok(link, mail.text);
  res = await browser.get(link);
  const form = parseForms(await res.text()).find((f) => f.action.endsWith('/recover/complete'));
  assert.ok(form, 'the new-password form');
  return form;
}

/** Holds row locks on the OAuth 2.0 rows of `username` (not its sign-in sessions) until released. */
async function holdOAuthRows(username: string): Promise<() => Promise<void>> {
  const holder = postgres(mauth.databaseUrl, { max: 1, onnotice: () => {} });
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  let held!: () => void;
  const isHeld = new Promise<void>((resolve) => (held = resolve));
  const done = holder.begin(async (tx) => {
    const rows = await tx`
      SELECT p.id FROM oidc_payloads p JOIN users u ON u.id = p.account_id
      WHERE u.username = ${username} AND p.model <> 'Session' FOR UPDATE OF p`;
    assert.ok(rows.length > 0, 'there are rows to hold');
    held();
    await released;
  });
  await Promise.race([isHeld, done]);
  return async () => {
    release();
    await done;
    await holder.end();
  };
}

test('a reset whose own ending of the OAuth 2.0 grants fails still ends them, through its job; later sessions stay', async () => {
  const oauth = await oauthLogin('rita');
  const legacy = await legacyLogin('rita', 'rita-Password-1!');
  assert.equal(legacy.status, 200, JSON.stringify(legacy.body));
  assert.equal(await active(oauth.access_token), true);
  assert.equal(await active(legacy.body.access_token), true);

  const browser = new Browser(mauth.url);
  const form = await resetForm(browser, 'rita');
  // The request's own attempt to end the grants cannot take their rows: it fails.
  const release = await holdOAuthRows('rita');
  let after: Awaited<ReturnType<typeof oauthLogin>>;
  try {
    const res = await browser.postForm(form.action, { ...form.fields, password: NEW_PASSWORD, password_confirm: NEW_PASSWORD });
    assert.equal(res.status, 200);
    assert.match(await res.text(), /Password changed/);
    assert.match(mauth.output(), /could not end the OAuth 2.0 sessions after a password reset/, 'the request\'s own attempt failed');
    assert.equal(await active(legacy.body.access_token), false, 'the legacy session ended with the new password');
    // The owner signs in again right away, before the job could end the old grants.
    after = await oauthLogin('rita', NEW_PASSWORD);
  } finally {
    await release();
  }

  // The job retries after its backoff: move past it.
  const deadline = Date.now() + 20_000;
  while (await active(oauth.access_token)) {
    assert.ok(Date.now() < deadline, 'the OAuth 2.0 grant from before the reset never ended');
    await mauth.advance(10);
    await new Promise((r) => setTimeout(r, 100));
  }
  const refresh = await tokenRequest(mauth.url, { grant_type: 'refresh_token', refresh_token: oauth.refresh_token, client_id: client.client_id });
  assert.equal(refresh.status, 400, JSON.stringify(refresh.body));
  assert.equal(refresh.body.error, 'invalid_grant');
  await mauth.jobsSettled();
  assert.equal(await active(after.access_token), true, 'the sign-in after the reset is not ended by the job');
  const [job] = await sql<{ status: string }[]>`SELECT status FROM jobs WHERE kind = 'end_user_sessions'`;
  assert.equal(job?.status, 'done');
});

test('a reset ends legacy login tokens issued but not yet exchanged', async () => {
  const browser = new Browser(mauth.url);
  const redirectUrl = 'https://client.example.org/after-login';
  let res = await browser.get(`/_matrix/client/v3/login/sso/redirect?redirectUrl=${encodeURIComponent(redirectUrl)}`);
  res = await browser.get(location(res));
  res = await browser.get(location(res));
  const loginForm = parseForms(await res.text()).find((f) => f.action.startsWith('/login'))!;
  res = await browser.postForm(loginForm.action, { ...loginForm.fields, username: 'sid', password: 'sid-Password-1!' });
  res = await browser.get(location(res));
  const confirm = parseForms(await res.text())[0];
  res = await browser.postForm(confirm.action, { ...confirm.fields, decision: 'continue' });
  assert.equal(res.status, 303);
  const token = new URL(location(res)).searchParams.get('loginToken');
  assert.ok(token);

  const resetter = new Browser(mauth.url);
  const form = await resetForm(resetter, 'sid');
  res = await resetter.postForm(form.action, { ...form.fields, password: NEW_PASSWORD, password_confirm: NEW_PASSWORD });
  assert.equal(res.status, 200);
  assert.match(await res.text(), /Password changed/);

  const exchanged = await fetch(`${mauth.url}/_matrix/client/v3/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ type: 'm.login.token', token }),
  });
  const body = (await exchanged.json()) as { errcode?: string };
  assert.equal(exchanged.status, 403, `the login token from before the reset still works: ${JSON.stringify(body)}`);
  assert.equal(body.errcode, 'M_FORBIDDEN');
});

test('no request in this file produced a 5xx or an error log', () => {
  assert.doesNotMatch(mauth.output(), /"status":5\d\d|request failed|unhandled error|"level":50/);
});
