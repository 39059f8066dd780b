// Black box (in process, real PostgreSQL): a refresh is one transaction at the floor. Every
// statement the server's pool sends is observed (postgres.js's `debug` hook on the instance's own
// pool): a refresh must be one transaction of at most 6 statements (BEGIN and COMMIT not
// counted), for a public client, a registered confidential client and a static one from the
// configuration, with `openid email` asked for (the code exchange issues an ID token, a refresh
// none, as MAS). No job worker and no introspection cache run, so nothing else queries meanwhile. A refresh whose transaction fails leaves nothing
// behind, refreshes racing with one token never leave two live token chains, and a grant ended
// during its refresh neither deadlocks with it nor keeps the tokens it saved.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';
import postgres from 'postgres';
import { startHomeserverDouble, type HomeserverDouble } from '../support/homeserver-double.js';
import { Browser } from '../support/http-client.js';
import { createInProcessMauth, type InProcessMauth } from '../support/mauth-inprocess.js';
import { authorize, introspect, registerClient, registerNativeClient, type RegisteredClient } from '../support/oauth-client.js';
import { grantDestroyer } from '../../src/oidc/grants.js';

const SERVER_NAME = 'refresh-cost.test';
const PASSWORD = 'Rita-Refresh-Password-1!';
const STATIC_CLIENT = '01JREFRESHSTAT1CC11ENT0000';
const STATIC_SECRET = 'static-secret-0123456789';
const MAX_STATEMENTS = 6;

let hs: HomeserverDouble;
let mauth: InProcessMauth;
/** The test's own connection to Mauth's database (not observed). */
let db: postgres.Sql;

interface Sent {
  query: string;
  connection: number;
}
let recording: Sent[] | undefined;

before(async () => {
  const secret = randomBytes(16).toString('hex');
  hs = await startHomeserverDouble({ secret, serverName: SERVER_NAME });
  mauth = await createInProcessMauth(
    {
      homeserverUrl: hs.url,
      serverName: SERVER_NAME,
      secret,
      extra: {
        clients: [{ client_id: STATIC_CLIENT, client_auth_method: 'client_secret_post', client_secret: STATIC_SECRET, redirect_uris: ['http://127.0.0.1/static-cb'] }],
        // No introspection cache: its heartbeat (a notification every second through the same
        // pool) is not the refresh's, and counting would catch it now and then.
        introspection: { cache_ttl: 0 },
      },
    },
    { worker: false, onQuery: (query, connection) => recording?.push({ query, connection }) },
  );
  const r = await mauth.cli('manage', 'register-user', 'rita', '--password', PASSWORD, '--email', 'rita@mail.test', '--yes');
  assert.equal(r.code, 0, r.stderr);
  await mauth.start();
  db = postgres(mauth.databaseUrl, { max: 1, onnotice: () => {} });
});

after(async () => {
  await db?.end();
  await mauth?.stop();
  await mauth?.drop();
  await hs?.stop();
});

type Auth = { fields: Record<string, string>; headers: Record<string, string> };

async function post(fields: Record<string, string>, auth: Auth, userAgent = 'RefreshCost/1.0') {
  const res = await fetch(`${mauth.url}/oauth2/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', 'user-agent': userAgent, ...auth.headers },
    body: new URLSearchParams({ ...fields, ...auth.fields }).toString(),
  });
  return { status: res.status, body: (await res.json()) as Record<string, string> };
}

async function signIn(client: RegisteredClient, auth: Auth, device: string) {
  const scope = `openid email urn:matrix:client:api:* urn:matrix:client:device:${device}`;
  const { params, verifier } = await authorize(new Browser(mauth.url), { client, scope, username: 'rita', password: PASSWORD });
  const tokens = await post({ grant_type: 'authorization_code', code: params.get('code')!, redirect_uri: client.redirect_uri, code_verifier: verifier }, auth);
  assert.equal(tokens.status, 200, JSON.stringify(tokens.body));
  return tokens.body;
}

/**
 * Refreshes, and returns the answer with every statement sent while it ran. The client sends
 * another User-Agent than at sign-in (an app update), so the session's record of it is written too.
 */
async function observedRefresh(refreshToken: string, auth: Auth) {
  recording = [];
  try {
    const answer = await post({ grant_type: 'refresh_token', refresh_token: refreshToken }, auth, 'RefreshCost/2.0');
    return { answer, sent: recording };
  } finally {
    recording = undefined;
  }
}

const isBegin = (q: string) => /^\s*begin\b/i.test(q);
const isEnd = (q: string) => /^\s*(commit|rollback)\b/i.test(q);
const listing = (sent: Sent[]) => sent.map((s, i) => `${i + 1}. [conn ${s.connection}] ${s.query.replace(/\s+/g, ' ').trim()}`).join('\n');

async function assertRefreshAtTheFloor(client: RegisteredClient, auth: Auth) {
  const device = `DEV${randomBytes(5).toString('hex').toUpperCase()}`;
  const first = await signIn(client, auth, device);
  const { answer, sent } = await observedRefresh(first.refresh_token, auth);
  assert.equal(answer.status, 200, JSON.stringify(answer.body));
  assert.ok(first.id_token, 'the code exchange issues an ID token');
  // As MAS: a refresh answers access_token, expires_in, refresh_token, scope (and token_type).
  assert.equal(answer.body.id_token, undefined, 'a refresh issues no ID token, even with openid in the scope');
  assert.deepEqual(Object.keys(answer.body).sort(), ['access_token', 'expires_in', 'refresh_token', 'scope', 'token_type']);
  assert.ok(answer.body.scope.split(' ').includes(`urn:matrix:client:device:${device}`), `the device scope is carried: ${answer.body.scope}`);

  const work = sent.filter((s) => !isBegin(s.query) && !isEnd(s.query));
  assert.ok(work.length <= MAX_STATEMENTS, `a refresh sent ${work.length} statements (at most ${MAX_STATEMENTS}):\n${listing(sent)}`);
  // One transaction: BEGIN first, COMMIT last, everything between on that one connection.
  assert.ok(sent.length >= 2 && isBegin(sent[0].query), `the refresh starts its transaction first:\n${listing(sent)}`);
  assert.match(sent.at(-1)!.query, /^\s*commit\b/i, `the refresh ends by committing:\n${listing(sent)}`);
  assert.equal(sent.filter((s) => isBegin(s.query)).length, 1, `one transaction:\n${listing(sent)}`);
  assert.ok(sent.every((s) => s.connection === sent[0].connection), `all on the transaction's connection:\n${listing(sent)}`);

  // And the refresh did its work: the old access token is revoked, the new tokens live and rotate.
  assert.equal((await introspect(mauth.url, mauth.secret, first.access_token)).body.active, false, 'the replaced access token is revoked');
  const info = await introspect(mauth.url, mauth.secret, answer.body.access_token);
  assert.equal(info.body.active, true);
  assert.equal(info.body.device_id, device);
  const [session] = await db<{ user_agent: string }[]>`SELECT user_agent FROM oauth2_sessions WHERE device_id = ${device}`;
  assert.equal(session.user_agent, 'RefreshCost/2.0', "the session records the refreshing client's User-Agent");
  const again = await post({ grant_type: 'refresh_token', refresh_token: answer.body.refresh_token }, auth);
  assert.equal(again.status, 200, JSON.stringify(again.body));
}

test('a refresh by a public client (registered, like Element X) is one transaction of at most 6 statements', async () => {
  const client = await registerNativeClient(mauth.url);
  await assertRefreshAtTheFloor(client, { fields: { client_id: client.client_id }, headers: {} });
});

test('a refresh by a registered confidential client (client_secret_basic) is one transaction of at most 6 statements', async () => {
  const redirect = 'https://app.example.org/callback';
  const res = await registerClient(mauth.url, {
    application_type: 'web',
    client_uri: 'https://app.example.org/',
    redirect_uris: [redirect],
    token_endpoint_auth_method: 'client_secret_basic',
    response_types: ['code'],
    grant_types: ['authorization_code', 'refresh_token'],
  });
  const body = (await res.json()) as { client_id: string; client_secret: string };
  assert.equal(res.status, 201, JSON.stringify(body));
  const basic = Buffer.from(`${encodeURIComponent(body.client_id)}:${encodeURIComponent(body.client_secret)}`).toString('base64');
  await assertRefreshAtTheFloor({ client_id: body.client_id, redirect_uri: redirect }, { fields: {}, headers: { authorization: `Basic ${basic}` } });
});

test('a refresh by a static client from the configuration is one transaction of at most 6 statements', async () => {
  await assertRefreshAtTheFloor(
    { client_id: STATIC_CLIENT, redirect_uri: 'http://127.0.0.1/static-cb' },
    { fields: { client_id: STATIC_CLIENT, client_secret: STATIC_SECRET }, headers: {} },
  );
});

test('a refresh whose transaction fails leaves nothing behind: no successor, the old access token works, the token refreshes again', async () => {
  const client = await registerNativeClient(mauth.url);
  const auth = { fields: { client_id: client.client_id }, headers: {} };
  const device = `DEV${randomBytes(5).toString('hex').toUpperCase()}`;
  const first = await signIn(client, auth, device);
  const refreshTokens = async () => {
    const [row] = await db<{ n: number }[]>`
      SELECT count(*)::int AS n FROM oidc_payloads t JOIN oauth2_sessions s ON s.grant_id = t.grant_id
      WHERE t.model = 'RefreshToken' AND s.device_id = ${device}`;
    return row.n;
  };
  assert.equal(await refreshTokens(), 1);

  // The session row is held by another transaction: the refresh's last write (the new
  // User-Agent) waits for it, and is cancelled, after the tokens were consumed and saved.
  const holder = postgres(mauth.databaseUrl, { max: 1, onnotice: () => {} });
  let release!: () => void;
  const held = new Promise<void>((resolve) => (release = resolve));
  let locked!: () => void;
  const isLocked = new Promise<void>((resolve) => (locked = resolve));
  const holding = holder.begin(async (tx) => {
    await tx`SELECT 1 FROM oauth2_sessions WHERE device_id = ${device} FOR UPDATE`;
    locked();
    await held;
  });
  try {
    await isLocked;
    const pending = post({ grant_type: 'refresh_token', refresh_token: first.refresh_token }, auth, 'RefreshCost/2.0');
    for (let cancelled = false; !cancelled; ) {
      const rows = await db<{ cancelled: boolean }[]>`
        SELECT pg_cancel_backend(pid) AS cancelled FROM pg_stat_activity
        WHERE datname = current_database() AND wait_event_type = 'Lock' AND query ~ '^[[:space:]]*UPDATE oauth2_sessions'`;
      cancelled = rows.some((r) => r.cancelled);
      if (!cancelled) await new Promise((r) => setTimeout(r, 20));
    }
    const failed = await pending;
    assert.equal(failed.status, 503, JSON.stringify(failed.body));
    assert.equal(failed.body.error, 'temporarily_unavailable');
    assert.equal(failed.body.refresh_token, undefined, 'no token leaves with a failed commit');
  } finally {
    release();
    await holding;
    await holder.end();
  }

  assert.equal(await refreshTokens(), 1, 'the successor was not saved');
  assert.equal((await introspect(mauth.url, mauth.secret, first.access_token)).body.active, true, 'the access token was not revoked');
  const retry = await post({ grant_type: 'refresh_token', refresh_token: first.refresh_token }, auth, 'RefreshCost/2.0');
  assert.equal(retry.status, 200, JSON.stringify(retry.body));
  const [token] = await db<{ grace_used: boolean }[]>`
    SELECT t.grace_used FROM oidc_payloads t JOIN oauth2_sessions s ON s.grant_id = t.grant_id
    WHERE t.model = 'RefreshToken' AND s.device_id = ${device} AND t.consumed_at IS NOT NULL`;
  assert.equal(token.grace_used, false, 'the retry was an ordinary rotation, not the grace replay');
});

test('refreshes racing with one refresh token never leave two live token chains', async () => {
  const client = await registerNativeClient(mauth.url);
  const auth = { fields: { client_id: client.client_id }, headers: {} };
  for (const racers of [2, 4]) {
    const first = await signIn(client, auth, `DEV${randomBytes(5).toString('hex').toUpperCase()}`);
    const answers = await Promise.all(Array.from({ length: racers }, () => post({ grant_type: 'refresh_token', refresh_token: first.refresh_token }, auth)));
    for (const a of answers) assert.ok(a.status === 200 || (a.status === 400 && a.body.error === 'invalid_grant'), JSON.stringify(a));
    assert.ok(answers.some((a) => a.status === 200), 'one of them refreshes');
    // Whichever chain a client follows, at most one refreshes again (presenting a replaced one ends the grant).
    let live = 0;
    for (const a of answers.filter((x) => x.status === 200)) {
      if ((await post({ grant_type: 'refresh_token', refresh_token: a.body.refresh_token }, auth)).status === 200) live += 1;
    }
    assert.ok(live <= 1, `${live} chains of ${racers} racing refreshes lived on`);
  }
});

test('a grant ended while its refresh is consuming (session end, password reset, inactivity) neither deadlocks with it nor leaves its new tokens behind', async () => {
  const client = await registerNativeClient(mauth.url);
  const auth = { fields: { client_id: client.client_id }, headers: {} };
  const device = `DEV${randomBytes(5).toString('hex').toUpperCase()}`;
  const first = await signIn(client, auth, device);
  const [{ grant_id: grantId }] = await db<{ grant_id: string }[]>`SELECT grant_id FROM oauth2_sessions WHERE device_id = ${device}`;
  // Where the rows lie decides the order in which ending the grant locks them: the access token
  // before the refresh token, as free space in a busy table may place them.
  // CLUSTER rewrites the table in primary-key order, (model, id): every AccessToken row before
  // every RefreshToken row (moving one row with UPDATEs until it lands behind was left to chance).
  await db`CLUSTER oidc_payloads USING oidc_payloads_pkey`;
  const [{ before }] = await db<{ before: boolean }[]>`
    SELECT (SELECT ctid FROM oidc_payloads WHERE model = 'AccessToken' AND grant_id = ${grantId})
         < (SELECT ctid FROM oidc_payloads WHERE model = 'RefreshToken' AND grant_id = ${grantId}) AS before`;
  assert.ok(before, 'the access token row lies before the refresh token row');
  const lockWaiters = async () => {
    const [{ n }] = await db<{ n: number }[]>`
      SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`;
    return n;
  };

  // Someone else holds the refresh token's row a moment: the refresh's consume waits for it...
  const holder = postgres(mauth.databaseUrl, { max: 1, onnotice: () => {} });
  const ender = postgres(mauth.databaseUrl, { max: 1, onnotice: () => {} });
  let release!: () => void;
  const held = new Promise<void>((resolve) => (release = resolve));
  let locked!: () => void;
  const isLocked = new Promise<void>((resolve) => (locked = resolve));
  const holding = holder.begin(async (tx) => {
    await tx`SELECT 1 FROM oidc_payloads WHERE model = 'RefreshToken' AND grant_id = ${grantId} FOR UPDATE`;
    locked();
    await held;
  });
  try {
    await isLocked;
    const refresh = post({ grant_type: 'refresh_token', refresh_token: first.refresh_token }, auth);
    while ((await lockWaiters()) < 1) await new Promise((r) => setTimeout(r, 10));
    // ...and meanwhile the grant is ended (what the end_user_sessions job and the account page do).
    const ending = grantDestroyer(ender)(grantId).then(
      () => undefined,
      (err: unknown) => err,
    );
    while ((await lockWaiters()) < 2) await new Promise((r) => setTimeout(r, 10));
    release();
    await holding;

    const answer = await refresh;
    const failure = await ending;
    assert.equal(failure, undefined, `ending the grant failed: ${String(failure)}`);
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    const [left] = await db<{ n: number }[]>`SELECT count(*)::int AS n FROM oidc_payloads WHERE grant_id = ${grantId} OR id = ${grantId}`;
    assert.equal(left.n, 0, 'nothing of the ended grant is left, the tokens its refresh saved included');
    assert.equal((await introspect(mauth.url, mauth.secret, answer.body.access_token)).body.active, false);
  } finally {
    release();
    await holding.catch(() => {});
    await holder.end();
    await ender.end();
  }
});
