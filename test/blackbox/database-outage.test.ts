// Black box: a stalled database (a table the login and introspection paths read is locked by
// someone else) must not hang Mauth. /health says 503 with the reason, API calls get 503 in their
// protocol's format with Retry-After, and everything recovers once the lock goes, without a restart.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';
import { startHomeserverDouble, type HomeserverDouble } from '../support/homeserver-double.js';
import { createMauth, type MauthInstance } from '../support/mauth-process.js';
import { lockTable } from '../support/table-lock.js';

const SERVER_NAME = 'outage.test';
/** Generous: "answered at all", not a latency figure. */
const ANSWERED_WITHIN_MS = 20_000;
const embedded = process.env.MAUTH_TEST_DATABASE === 'embedded';

let hs: HomeserverDouble;
let mauth: MauthInstance;

interface Answer {
  status: number;
  headers: Headers;
  body: any;
}

async function call(path: string, init: RequestInit = {}): Promise<Answer> {
  const res = await fetch(`${mauth.url}${path}`, { ...init, signal: AbortSignal.timeout(ANSWERED_WITHIN_MS) });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: text ? JSON.parse(text) : undefined };
}

const login = () =>
  call('/_matrix/client/v3/login', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ type: 'm.login.password', identifier: { type: 'm.id.user', user: 'olive' }, password: 'olive-pw-1' }),
  });

const introspect = (token: string) =>
  call('/oauth2/introspect', {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Bearer ${mauth.secret}`, 'x-mas-supports-device-id': '1' },
    body: new URLSearchParams({ token, token_type_hint: 'access_token' }).toString(),
  });

before(async () => {
  if (embedded) return;
  const secret = randomBytes(16).toString('hex');
  hs = await startHomeserverDouble({ secret, serverName: SERVER_NAME });
  // Two connections, so two waiting logins exhaust the pool; timeouts short enough for a test.
  mauth = await createMauth({
    homeserverUrl: hs.url,
    serverName: SERVER_NAME,
    secret,
    database: { max_connections: 2, statement_timeout: 8, lock_timeout: 4, request_deadline: 6 },
  });
  const r = await mauth.cli('manage', 'register-user', 'olive', '--password', 'olive-pw-1', '--yes');
  assert.equal(r.code, 0, r.stderr);
  await mauth.start();
});

after(async () => {
  await mauth?.stop();
  await mauth?.drop();
  await hs?.stop();
});

test('a locked users table: 503s with reasons instead of hanging, and recovery without a restart', { skip: embedded && 'needs PostgreSQL' }, async () => {
  const first = await login();
  assert.equal(first.status, 200, JSON.stringify(first.body));
  // Never introspected before the lock, so not in the introspection cache: its lookup needs the database.
  const token = first.body.access_token as string;

  const lock = await lockTable(mauth.databaseUrl, 'users');
  let logins: Answer[];
  let health: Answer;
  let introspection: Answer;
  try {
    // Both pool connections end up waiting for the lock...
    const pendingLogins = Promise.all([login(), login()]);
    await lock.waiters(2);
    // ...so these wait for a connection, or for the lock once they get one.
    [health, introspection, logins] = await Promise.all([call('/health'), introspect(token), pendingLogins]);
  } finally {
    await lock.release();
  }

  assert.equal(health.status, 503);
  assert.equal(health.body.status, 'error');
  assert.match(health.body.error, /database/);

  assert.equal(introspection.status, 503, JSON.stringify(introspection.body));
  assert.equal(introspection.body.error, 'temporarily_unavailable');
  assert.match(introspection.headers.get('retry-after') ?? '', /^\d+$/);

  for (const answer of logins) {
    assert.equal(answer.status, 503, JSON.stringify(answer.body));
    assert.equal(answer.body.errcode, 'M_UNKNOWN');
    assert.match(answer.headers.get('retry-after') ?? '', /^\d+$/);
  }

  // Recovery: the same process answers normally again.
  const deadline = Date.now() + ANSWERED_WITHIN_MS;
  while ((await call('/health')).status !== 200) {
    assert.ok(Date.now() < deadline, '/health never recovered');
    await new Promise((r) => setTimeout(r, 100));
  }
  const again = await login();
  assert.equal(again.status, 200, JSON.stringify(again.body));
  const recovered = await introspect(again.body.access_token);
  assert.equal(recovered.status, 200);
  assert.equal(recovered.body.active, true);
});

test('oidc-provider endpoints answer 503 temporarily_unavailable (JSON and page) while their table is locked', { skip: embedded && 'needs PostgreSQL' }, async () => {
  const clientId = `01J${randomBytes(12).toString('hex').toUpperCase().slice(0, 23)}`;
  const lock = await lockTable(mauth.databaseUrl, 'oidc_payloads');
  let token: Answer;
  let page: { status: number; retryAfter: string | null; type: string; text: string };
  try {
    const authorize = new URL(`${mauth.url}/authorize`);
    authorize.search = new URLSearchParams({ client_id: clientId, response_type: 'code', redirect_uri: 'https://app.example/cb', scope: 'openid', code_challenge: 'x'.repeat(43), code_challenge_method: 'S256' }).toString();
    [token, page] = await Promise.all([
      call('/oauth2/token', {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: 'mar_unknown', client_id: clientId }).toString(),
      }),
      fetch(authorize, { headers: { accept: 'text/html' }, redirect: 'manual', signal: AbortSignal.timeout(ANSWERED_WITHIN_MS) }).then(async (res) => ({
        status: res.status,
        retryAfter: res.headers.get('retry-after'),
        type: res.headers.get('content-type') ?? '',
        text: await res.text(),
      })),
    ]);
  } finally {
    await lock.release();
  }
  assert.equal(token.status, 503, JSON.stringify(token.body));
  assert.equal(token.body.error, 'temporarily_unavailable');
  assert.match(token.headers.get('retry-after') ?? '', /^\d+$/);
  assert.equal(page.status, 503);
  assert.match(page.type, /^text\/html/);
  assert.match(page.retryAfter ?? '', /^\d+$/);
  assert.match(page.text, /temporarily unavailable/i);
});
