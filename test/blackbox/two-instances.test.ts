// Black box: two Mauth processes of one deployment (the same configuration files, each on a port
// of its own) against one PostgreSQL database, as behind a load balancer. What one issues the other
// honours, the login limits are one budget, and a job whose runner is killed mid-call is finished
// by the other instance once the lease runs out, exactly once.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';
import postgres from 'postgres';
import { compatLogin, oauthLogin } from '../support/account.js';
import { startHomeserverDouble, type HomeserverDouble } from '../support/homeserver-double.js';
import { Browser, location, parseForms } from '../support/http-client.js';
import { createMauth, type MauthInstance } from '../support/mauth-process.js';
import { introspect, registerNativeClient } from '../support/oauth-client.js';

const SERVER_NAME = 'two.test';
const embedded = process.env.MAUTH_TEST_DATABASE === 'embedded';
const skip = embedded && 'the embedded database serves one process';
/** A short lease, so that the other instance takes a dead runner's job back soon. */
const LEASE_SECONDS = 3;
/** The bound for finishing a job whose runner was killed (leases of 3 s, polling every 5 s). */
const RECOVERY_MS = 60_000;
/** Logins to one account that the shared bucket allows before refusing (per_account burst). */
const ACCOUNT_BURST = 3;

const pw = (name: string) => `${name}-pw-1-zq8`;

let hs: HomeserverDouble;
let a: MauthInstance;
let b: MauthInstance;
let db: postgres.Sql;

before(async () => {
  if (embedded) return;
  const secret = randomBytes(16).toString('hex');
  hs = await startHomeserverDouble({ secret, serverName: SERVER_NAME });
  a = await createMauth({
    homeserverUrl: hs.url,
    serverName: SERVER_NAME,
    secret,
    database: { job_lease: LEASE_SECONDS },
    extra: {
      rate_limiting: {
        login: { per_ip: { burst: 10000, per_second: 1000 }, per_account: { burst: ACCOUNT_BURST, per_second: 0.0001 } },
        username_availability: { burst: 10000, per_second: 1000 },
      },
    },
  });
  b = await createMauth({ homeserverUrl: hs.url, serverName: SERVER_NAME, secret, configFrom: a });
  for (const name of ['alice', 'target', 'bob']) {
    const r = await a.cli('manage', 'register-user', name, '--password', pw(name), '--yes');
    assert.equal(r.code, 0, r.stderr);
  }
  await a.start();
  await b.start();
  db = postgres(a.databaseUrl, { max: 2, onnotice: () => {} });
});

after(async () => {
  await db?.end();
  await b?.stop();
  await a?.stop();
  await a?.drop();
  await hs?.stop();
});

async function jobsTotal(base: string, kind: string, outcome: string): Promise<number> {
  const text = await (await fetch(`${base}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith('mauth_jobs_total{') && l.includes(`kind="${kind}"`) && l.includes(`outcome="${outcome}"`));
  return line ? Number(line.split(' ').at(-1)) : 0;
}

test('a token issued on A introspects on B, and a login token made on A signs in on B', { skip }, async () => {
  const client = await registerNativeClient(a.url);
  const session = await oauthLogin(a.url, client, { username: 'alice', password: pw('alice') });
  const onB = await introspect(b.url, b.secret, session.access_token);
  assert.equal(onB.status, 200);
  assert.equal(onB.body.active, true);
  assert.equal(onB.body.username, 'alice');
  assert.equal(onB.body.device_id, session.deviceId);

  // The browser side of m.login.sso on A: sign in, confirm, get a login token…
  const browser = new Browser(a.url);
  const redirectUrl = 'https://client.example.org/after-login';
  let res = await browser.get(`/_matrix/client/v3/login/sso/redirect?redirectUrl=${encodeURIComponent(redirectUrl)}`);
  res = await browser.get(location(res));
  res = await browser.get(location(res));
  const form = parseForms(await res.text()).find((f) => f.action.startsWith('/login'));
  assert.ok(form, 'the login form');
  res = await browser.postForm(form.action, { ...form.fields, username: 'alice', password: pw('alice') });
  res = await browser.get(location(res));
  const confirm = parseForms(await res.text())[0];
  res = await browser.postForm(confirm.action, { ...confirm.fields, decision: 'continue' });
  const loginToken = new URL(location(res)).searchParams.get('loginToken');
  assert.ok(loginToken, 'a login token in the redirect');

  // …which the client redeems on B, once.
  const login = (base: string) =>
    fetch(`${base}/_matrix/client/v3/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ type: 'm.login.token', token: loginToken }),
    });
  const redeemed = await login(b.url);
  const body = (await redeemed.json()) as { user_id: string; access_token: string; device_id: string };
  assert.equal(redeemed.status, 200, JSON.stringify(body));
  assert.equal(body.user_id, `@alice:${SERVER_NAME}`);
  assert.ok(hs.devices('alice').has(body.device_id), 'B created the device on the homeserver');
  for (const base of [a.url, b.url]) assert.equal((await introspect(base, a.secret, body.access_token)).body.active, true);
  assert.equal((await login(a.url)).status, 403, 'the token was used up on B, for A too');
});

test('the login limit is one budget: attempts alternating between A and B exhaust it together', { skip }, async () => {
  const statuses: number[] = [];
  for (let i = 0; i < ACCOUNT_BURST + 2; i += 1) {
    const base = i % 2 === 0 ? a.url : b.url;
    const res = await fetch(`${base}/_matrix/client/v3/login`, {
      method: 'POST',
      // A new address each time: only the account's bucket can be what runs out.
      headers: { 'content-type': 'application/json', 'x-forwarded-for': `203.0.113.${i + 1}` },
      body: JSON.stringify({ type: 'm.login.password', identifier: { type: 'm.id.user', user: 'target' }, password: 'guess' }),
    });
    const answer = (await res.json()) as { errcode: string; retry_after_ms?: number };
    statuses.push(res.status);
    if (res.status === 429) {
      assert.equal(answer.errcode, 'M_LIMIT_EXCEEDED');
      assert.ok(Number(answer.retry_after_ms) > 0);
    }
  }
  // Each instance alone saw at most two attempts; together they saw the burst, then refused.
  assert.deepEqual(statuses, [403, 403, 403, 429, 429]);
});

test('A killed mid-job: B takes the job back when the lease runs out and finishes it, once', { skip }, async () => {
  // Only A may claim the job: B is stopped until A is in the middle of it.
  await b.stop();
  const { access_token, device_id } = await compatLogin(a.url, { username: 'bob', password: pw('bob') });
  assert.ok(hs.devices('bob').has(device_id));
  const release = hs.hold('delete_device');
  try {
    const logout = await fetch(`${a.url}/_matrix/client/v3/logout`, { method: 'POST', headers: { authorization: `Bearer ${access_token}` } });
    assert.equal(logout.status, 200);
    // A's worker claimed the delete_device job and is waiting for the homeserver.
    const deadline = Date.now() + RECOVERY_MS;
    while (hs.inFlight('delete_device') < 1) {
      if (Date.now() > deadline) throw new Error('A never called delete_device');
      await new Promise((r) => setTimeout(r, 50));
    }
    const [claimed] = await db<{ id: string; status: string; attempts: number; locked_by: string }[]>`
      SELECT id, status, attempts, locked_by FROM jobs WHERE kind = 'delete_device' AND payload->>'device_id' = ${device_id}`;
    assert.deepEqual([claimed.status, claimed.attempts], ['running', 1]);

    await b.start();
    a.signal('SIGKILL');
    assert.deepEqual(await a.exited(), { code: null, signal: 'SIGKILL' });
    const killedAt = Date.now();

    // B takes the job back once A's lease has expired and calls the homeserver in turn (still
    // held, beside A's call, which nobody is waiting for any more).
    while (hs.inFlight('delete_device') < 2) {
      if (Date.now() - killedAt > RECOVERY_MS) throw new Error('B never took the job back');
      await new Promise((r) => setTimeout(r, 50));
    }
    const [retaken] = await db<{ status: string; attempts: number; locked_by: string; last_error: string }[]>`
      SELECT status, attempts, locked_by, last_error FROM jobs WHERE id = ${claimed.id}`;
    assert.equal(retaken.status, 'running');
    assert.equal(retaken.attempts, 2);
    assert.notEqual(retaken.locked_by, claimed.locked_by, 'another runner holds it');
    assert.equal(retaken.last_error, `lease of worker ${claimed.locked_by} expired`);

    release();
    while ((await db<{ status: string }[]>`SELECT status FROM jobs WHERE id = ${claimed.id}`)[0].status !== 'done') {
      if (Date.now() - killedAt > RECOVERY_MS) throw new Error('B did not finish the job within 60 s of the kill');
      await new Promise((r) => setTimeout(r, 100));
    }
  } finally {
    release();
  }

  const [done] = await db<{ status: string; attempts: number; lease_token: string | null }[]>`
    SELECT status, attempts, lease_token FROM jobs WHERE kind = 'delete_device' AND payload->>'device_id' = ${device_id}`;
  assert.deepEqual(done, { status: 'done', attempts: 2, lease_token: null });
  // The homeserver saw A's call, which A did not live to hear answered, and B's: the device is gone.
  const calls = hs.calls.filter((c) => c.path.endsWith('/delete_device') && (c.body as { device_id?: string })?.device_id === device_id);
  assert.deepEqual(
    calls.map((c) => ({ status: c.status, callerGone: c.callerGone })),
    [
      { status: 204, callerGone: true },
      { status: 204, callerGone: false },
    ],
  );
  assert.equal(hs.devices('bob').has(device_id), false);
  // B recorded the job's one completion.
  assert.equal(await jobsTotal(b.url, 'delete_device', 'done'), 1);
});
