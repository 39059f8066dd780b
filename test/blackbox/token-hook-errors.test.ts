// Black box: the token endpoint's own step after oidc-provider (starting the OAuth 2.0 session,
// creating the device) fails in the endpoint's protocol: a database that cannot serve gives 503
// `temporarily_unavailable` with Retry-After, anything else 500 `server_error`, both JSON and
// logged through the server's logger, never Koa's plain-text 500 with a stack on stderr.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';
import postgres from 'postgres';
import { startHomeserverDouble, type HomeserverDouble } from '../support/homeserver-double.js';
import { Browser } from '../support/http-client.js';
import { createMauth, type MauthInstance } from '../support/mauth-process.js';
import { authorize, registerNativeClient, type RegisteredClient } from '../support/oauth-client.js';
import { lockTable } from '../support/table-lock.js';

const SERVER_NAME = 'token-hook.test';
const embedded = process.env.MAUTH_TEST_DATABASE === 'embedded';

let hs: HomeserverDouble;
let mauth: MauthInstance;
let client: RegisteredClient;

before(async () => {
  if (embedded) return;
  const secret = randomBytes(16).toString('hex');
  hs = await startHomeserverDouble({ secret, serverName: SERVER_NAME });
  mauth = await createMauth({ homeserverUrl: hs.url, serverName: SERVER_NAME, secret, database: { lock_timeout: 1 } });
  const r = await mauth.cli('manage', 'register-user', 'tom', '--password', 'tom-Password-1!', '--yes');
  assert.equal(r.code, 0, r.stderr);
  await mauth.start();
  client = await registerNativeClient(mauth.url);
});

after(async () => {
  await mauth?.stop();
  await mauth?.drop();
  await hs?.stop();
});

/** An authorization code of tom's, and the token request that exchanges it (not sent yet). */
async function codeExchange(): Promise<() => Promise<{ status: number; type: string; retryAfter: string | null; text: string }>> {
  const device = `DEV${randomBytes(5).toString('hex').toUpperCase()}`;
  const { params, verifier } = await authorize(new Browser(mauth.url), {
    client,
    scope: `openid urn:matrix:client:api:* urn:matrix:client:device:${device}`,
    username: 'tom',
    password: 'tom-Password-1!',
  });
  const body = new URLSearchParams({ grant_type: 'authorization_code', code: params.get('code')!, redirect_uri: client.redirect_uri, client_id: client.client_id, code_verifier: verifier });
  return async () => {
    const res = await fetch(`${mauth.url}/oauth2/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: body.toString(),
      signal: AbortSignal.timeout(20_000),
    });
    return { status: res.status, type: res.headers.get('content-type') ?? '', retryAfter: res.headers.get('retry-after'), text: await res.text() };
  };
}

test('a locked oauth2_sessions table: the code exchange answers 503 temporarily_unavailable JSON with Retry-After', { skip: embedded && 'needs PostgreSQL' }, async () => {
  const exchange = await codeExchange();
  const lock = await lockTable(mauth.databaseUrl, 'oauth2_sessions');
  let answer: Awaited<ReturnType<typeof exchange>>;
  try {
    answer = await exchange();
  } finally {
    await lock.release();
  }
  assert.equal(answer.status, 503, answer.text);
  assert.match(answer.type, /^application\/json/);
  assert.equal(JSON.parse(answer.text).error, 'temporarily_unavailable');
  assert.match(answer.retryAfter ?? '', /^\d+$/);
  assert.doesNotMatch(answer.text, /mat_|mar_/, 'no token leaves with the error');
});

test('any other failure there answers 500 server_error JSON, logged by the server', { skip: embedded && 'needs PostgreSQL' }, async () => {
  const exchange = await codeExchange();
  const sql = postgres(mauth.databaseUrl, { max: 1, onnotice: () => {} });
  let answer: Awaited<ReturnType<typeof exchange>>;
  try {
    await sql.unsafe(`
      CREATE FUNCTION refuse_session() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'refused by the test'; END $$;
      CREATE TRIGGER refuse_session BEFORE INSERT ON oauth2_sessions FOR EACH ROW EXECUTE FUNCTION refuse_session();`);
    answer = await exchange();
  } finally {
    await sql.unsafe('DROP TRIGGER IF EXISTS refuse_session ON oauth2_sessions; DROP FUNCTION IF EXISTS refuse_session()');
    await sql.end();
  }
  assert.equal(answer.status, 500, answer.text);
  assert.match(answer.type, /^application\/json/);
  assert.equal(JSON.parse(answer.text).error, 'server_error');
  assert.doesNotMatch(answer.text, /refused by the test|mat_|mar_/, 'neither the cause nor a token leaves with the error');
  await mauth.waitForOutput(/"level":50[^\n]*refused by the test/);
  assert.doesNotMatch(mauth.output(), /^\s+at /m, 'no bare stack trace on stderr');
});
