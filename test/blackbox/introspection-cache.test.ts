// Black box, two Mauth processes on one PostgreSQL database: introspection answers are cached on
// each instance, and every change that ends a token (revocation, session end on the account
// page, lock, deactivation, password reset) reaches both at once through the database's
// NOTIFY, wherever it was made (on A, or by the CLI in a third process). The bound is
// checked: B answers `active: false` within 100 ms of the commit, polled every 5 ms, and the
// answer stays so. On A, when the change was made there, there is no bound: the very first
// introspection after the change's answer is inactive, even with A's notifications held back
// (A reaches the database through a relay of this file that can hold them) until it is made. With the LISTEN connection cut (its backend terminated), an instance stops
// using its cache, and a revocation is still never answered active; once it listens again the
// cache serves and is invalidated as before.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { after, before, describe, test } from 'node:test';
import postgres from 'postgres';
import { compatLogin, formOn, newDeviceId, oauthLogin, page, sessionEntry, signIn } from '../support/account.js';
import { startHomeserverDouble, type HomeserverDouble } from '../support/homeserver-double.js';
import { Browser, parseForms } from '../support/http-client.js';
import { createDatabase, createMauth, type MauthInstance } from '../support/mauth-process.js';
import { startPgRelay, type PgRelay } from '../support/pg-relay.js';
import { AdminApi, adminConfig, adminToken } from '../admin/support.js';
import { introspect, registerNativeClient, type RegisteredClient } from '../support/oauth-client.js';
import { startSmtp, type SmtpCatcher } from '../support/smtp.js';

const SERVER_NAME = 'cache.test';
const LISTENER = 'mauth introspection listener';
/** The bound for a revocation on one instance to be seen on another. */
const PROPAGATION_MS = 100;
const POLL_MS = 5;
const embedded = process.env.MAUTH_TEST_DATABASE === 'embedded';

let hs: HomeserverDouble;
let smtp: SmtpCatcher;
let a: MauthInstance;
let b: MauthInstance;
let client: RegisteredClient;
let db: postgres.Sql;
let database: Awaited<ReturnType<typeof createDatabase>>;
/** A's way to the database: its notifications can be held back. */
let relay: PgRelay;

const password = (name: string) => `${name}-Password-1!`;

describe('introspection cache across two instances', { skip: embedded && 'two instances need PostgreSQL' }, () => {
  before(async () => {
    const secret = randomBytes(16).toString('hex');
    hs = await startHomeserverDouble({ secret, serverName: SERVER_NAME });
    smtp = await startSmtp();
    const generous = { burst: 1000, per_second: 100 };
    const options = {
      homeserverUrl: hs.url,
      serverName: SERVER_NAME,
      secret,
      resources: ['adminapi'],
      extra: adminConfig({
        account: { password_recovery_enabled: true },
        email: { transport: 'smtp', mode: 'plain', hostname: '127.0.0.1', port: smtp.port, from: 'auth@cache.test' },
        rate_limiting: {
          login: { per_ip: generous, per_account: generous },
          account_recovery: { per_ip: generous, per_address: generous },
        },
      }),
    };
    database = await createDatabase();
    relay = await startPgRelay(new URL(database.url));
    a = await createMauth({ ...options, databaseUrl: relay.url });
    b = await createMauth({ ...options, databaseUrl: database.url });
    // One deployment: B gets A's generated base configuration (keys, encryption secret); only
    // its listener differs.
    await writeFile(b.configFiles[0], await readFile(a.configFiles[0]));
    for (const name of ['rev', 'ender', 'locked', 'admlock', 'gone', 'reset', 'cut', 'storm']) {
      const r = await a.cli('manage', 'register-user', name, '--password', password(name), '--email', `${name}@mail.test`, '--yes');
      assert.equal(r.code, 0, r.stderr);
    }
    await a.start();
    await b.start();
    client = await registerNativeClient(a.url);
    db = postgres(database.url, { max: 2, onnotice: () => {} });
  });

  after(async () => {
    await db?.end();
    await Promise.all([a?.stop(), b?.stop()]);
    await relay?.close();
    await database?.drop();
    await smtp?.stop().catch(() => {});
    await hs?.stop();
  });

  async function activeOn(instance: MauthInstance, token: string): Promise<boolean> {
    const { status, body } = await introspect(instance.url, instance.secret, token);
    assert.equal(status, 200, JSON.stringify(body));
    return body.active === true;
  }

  async function metric(instance: MauthInstance, name: string): Promise<number> {
    const text = await (await fetch(`${instance.url}/metrics`)).text();
    const line = text.split('\n').find((l) => l.startsWith(`${name} `));
    assert.ok(line, `${name} is exported`);
    return Number(line.split(' ')[1]);
  }

  /** Introspects each token on both instances until both answer it from their cache. */
  async function cachedOnBoth(tokens: string[]): Promise<void> {
    for (const instance of [a, b]) {
      for (const token of tokens) assert.equal(await activeOn(instance, token), true, 'active before the change');
      const hits = await metric(instance, 'mauth_introspection_cache_hits_total');
      for (const token of tokens) assert.equal(await activeOn(instance, token), true, 'active before the change');
      assert.equal(await metric(instance, 'mauth_introspection_cache_hits_total'), hits + tokens.length, 'the second answers came from the cache');
    }
  }

  /**
   * Polls both instances about every token, all at once, every 5 ms from the moment the change
   * committed until each answers every token inactive three times in a row; returns how long
   * after the commit the first request that got `active: false` for the slowest of them was sent.
   */
  async function inactiveOnBoth(tokens: string[], committedAt: number, instances = [a, b]): Promise<number> {
    const pairs = tokens.flatMap((token) => instances.map((instance) => ({ token, instance, seenAt: undefined as number | undefined, confirmations: 0 })));
    while (pairs.some((p) => p.confirmations < 3)) {
      const sentAt = performance.now();
      // Liveness: a token that never ends fails here, not on the test runner's timeout.
      assert.ok(sentAt - committedAt < 10_000, 'a token still answered active 10 s after the change');
      await Promise.all(
        pairs.map(async (pair) => {
          const active = await activeOn(pair.instance, pair.token);
          if (pair.seenAt === undefined && !active) pair.seenAt = sentAt;
          if (pair.seenAt === undefined) return;
          assert.equal(active, false, `once inactive, a token stays inactive on ${pair.instance === a ? 'A' : 'B'}`);
          pair.confirmations++;
        }),
      );
      await new Promise((r) => setTimeout(r, POLL_MS));
    }
    return Math.max(...pairs.map((p) => p.seenAt! - committedAt));
  }

  async function assertEndedWithinBound(tokens: string[], committedAt: number): Promise<void> {
    const elapsed = await inactiveOnBoth(tokens, committedAt);
    assert.ok(elapsed <= PROPAGATION_MS, `both instances answered inactive only ${elapsed.toFixed(1)} ms after the commit (bound ${PROPAGATION_MS} ms)`);
  }

  /**
   * Makes a change on A (`change` resolves once its answer is in) while every notification
   * bound for A is held back, so that A knows of the change only through having made it: the
   * very first introspection of each token on A after the answer must be inactive, while B must
   * answer inactive within the bound. Then A's notifications go through, and both instances must
   * go on answering inactive. Returns what `change` did.
   */
  async function changeOnA<T>(tokens: string[], change: () => Promise<T>): Promise<T> {
    relay.mode = 'hold-notifications';
    let result: T;
    let onB: Promise<number>;
    try {
      result = await change();
      const committedAt = performance.now();
      onB = inactiveOnBoth(tokens, committedAt, [b]);
      onB.catch(() => {});
      const first = await Promise.all(tokens.map((token) => activeOn(a, token)));
      assert.deepEqual(first, tokens.map(() => false), 'the first introspection on A after the change is inactive');
    } finally {
      relay.release();
    }
    const elapsed = await onB;
    assert.ok(elapsed <= PROPAGATION_MS, `B answered inactive only ${elapsed.toFixed(1)} ms after the commit (bound ${PROPAGATION_MS} ms)`);
    await inactiveOnBoth(tokens, performance.now());
    return result;
  }

  test('a token revoked on A is answered inactive by A at once and by B within 100 ms, though both had it cached', async () => {
    const oauth = await oauthLogin(a.url, client, { username: 'rev', password: password('rev') });
    await cachedOnBoth([oauth.access_token]);
    const res = await changeOnA([oauth.access_token], () =>
      fetch(`${a.url}/oauth2/revoke`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ token: oauth.access_token, token_type_hint: 'access_token', client_id: client.client_id }),
      }),
    );
    assert.equal(res.status, 200, await res.text());
  });

  test('sessions signed out on the account page of A stop working at once on A, and on B within 100 ms', async () => {
    const oauth = await oauthLogin(a.url, client, { username: 'ender', password: password('ender') });
    const legacy = await compatLogin(a.url, { username: 'ender', password: password('ender'), deviceId: newDeviceId() });
    await cachedOnBoth([oauth.access_token, legacy.access_token]);
    const browser = await signIn(a.url, 'ender', password('ender'));
    for (const [token, deviceId] of [
      [oauth.access_token, oauth.deviceId],
      [legacy.access_token, legacy.device_id],
    ]) {
      const list = await page(browser, '/account/sessions');
      const sessionId = /name="session_id" value="([^"]+)"/.exec(sessionEntry(list, deviceId))?.[1];
      assert.ok(sessionId);
      const form = formOn(list, '/account/sessions/end', { session_id: sessionId });
      const res = await changeOnA([token], () => browser.postForm(form.action, form.fields));
      assert.equal(res.status, 200);
    }
  });

  test('locking a user with the CLI (another process) ends its OAuth 2.0, legacy and personal tokens on both instances', async () => {
    const oauth = await oauthLogin(a.url, client, { username: 'locked', password: password('locked') });
    const legacy = await compatLogin(b.url, { username: 'locked', password: password('locked'), deviceId: newDeviceId() });
    const issued = await a.cli('manage', 'issue-personal-token', 'locked', '--scope', 'urn:matrix:client:api:*');
    assert.equal(issued.code, 0, issued.stderr);
    const personal = issued.stdout.trim();
    const tokens = [oauth.access_token, legacy.access_token, personal];
    await cachedOnBoth(tokens);
    const r = await a.cli('manage', 'lock-user', 'locked');
    const committedAt = performance.now();
    assert.equal(r.code, 0, r.stderr);
    await assertEndedWithinBound(tokens, committedAt);
  });

  test('locking a user through the admin API of A ends its tokens at once on A, and on B within 100 ms', async () => {
    const oauth = await oauthLogin(a.url, client, { username: 'admlock', password: password('admlock') });
    const legacy = await compatLogin(b.url, { username: 'admlock', password: password('admlock'), deviceId: newDeviceId() });
    const issued = await a.cli('manage', 'issue-personal-token', 'admlock', '--scope', 'urn:matrix:client:api:*');
    assert.equal(issued.code, 0, issued.stderr);
    const tokens = [oauth.access_token, legacy.access_token, issued.stdout.trim()];
    const api = new AdminApi(a.url, await adminToken(a.url));
    const user = await api.get('/users/by-username/admlock');
    assert.equal(user.status, 200, JSON.stringify(user.body));
    await cachedOnBoth(tokens);
    const locked = await changeOnA(tokens, () => api.post(`/users/${user.body.data.id}/lock`));
    assert.equal(locked.status, 200, JSON.stringify(locked.body));
  });

  test('deactivating a user ends its tokens on both instances', async () => {
    const oauth = await oauthLogin(b.url, client, { username: 'gone', password: password('gone') });
    const legacy = await compatLogin(a.url, { username: 'gone', password: password('gone'), deviceId: newDeviceId() });
    await cachedOnBoth([oauth.access_token, legacy.access_token]);
    const r = await a.cli('manage', 'lock-user', 'gone', '--deactivate');
    const committedAt = performance.now();
    assert.equal(r.code, 0, r.stderr);
    await assertEndedWithinBound([oauth.access_token, legacy.access_token], committedAt);
  });

  test('a password reset on A ends the old sessions at once on A, and on B within 100 ms', async () => {
    const oauth = await oauthLogin(a.url, client, { username: 'reset', password: password('reset') });
    const legacy = await compatLogin(b.url, { username: 'reset', password: password('reset'), deviceId: newDeviceId() });
    await cachedOnBoth([oauth.access_token, legacy.access_token]);

    const browser = new Browser(a.url);
    let res = await browser.get('/recover');
    const start = parseForms(await res.text())[0];
    const mailsBefore = smtp.mails.length;
    res = await browser.postForm(start.action, { ...start.fields, email: 'reset@mail.test' });
    assert.equal(res.status, 200);
    const mail = await smtp.waitFor((m) => smtp.mails.indexOf(m) >= mailsBefore && m.to.includes('reset@mail.test'), 30_000);
    const link = /(http:\/\/\S+recover\/complete\?ticket=\S+)/.exec(mail.text)?.[1];
    assert.ok(link, mail.text);
    const form = parseForms(await (await browser.get(link)).text()).find((f) => f.action.endsWith('/recover/complete'));
    assert.ok(form, 'the new-password form');
    const newPassword = 'Another-Password-88!';
    res = await changeOnA([oauth.access_token, legacy.access_token], () =>
      browser.postForm(form.action, { ...form.fields, password: newPassword, password_confirm: newPassword }),
    );
    assert.equal(res.status, 200);
    assert.match(await res.text(), /Password changed/);
  });

  /** Terminates the LISTEN backends of both instances; returns how many there were. */
  async function cutListeners(): Promise<number> {
    const rows = await db`
      SELECT pg_terminate_backend(pid, 5000) AS ended FROM pg_stat_activity
      WHERE datname = current_database() AND application_name = ${LISTENER}`;
    return rows.filter((r) => r.ended).length;
  }

  async function waitUntil(what: string, check: () => Promise<boolean>): Promise<void> {
    const deadline = Date.now() + 30_000;
    while (!(await check())) {
      assert.ok(Date.now() < deadline, `${what} within 30 s`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  test('after its LISTEN connection is cut an instance stops using its cache, listens again, and then caches and invalidates as before', async () => {
    const first = await oauthLogin(a.url, client, { username: 'cut', password: password('cut') });
    await cachedOnBoth([first.access_token]);
    const lossesBefore = await Promise.all([a, b].map((i) => metric(i, 'mauth_introspection_cache_listener_losses_total')));
    assert.equal(await cutListeners(), 2, 'each instance had one listening connection');
    await waitUntil('both instances noticed the loss', async () => {
      const losses = await Promise.all([a, b].map((i) => metric(i, 'mauth_introspection_cache_listener_losses_total')));
      return losses.every((n, i) => n > lossesBefore[i]);
    });
    await waitUntil('both instances listen again', async () =>
      (await Promise.all([a, b].map((i) => metric(i, 'mauth_introspection_cache_listening')))).every((v) => v === 1),
    );
    const [pid] = await db<{ pid: number }[]>`SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND application_name = ${LISTENER}`;
    assert.ok(pid, 'a new listening connection');

    // The cache was flushed: a token is looked up again, then served from the cache again.
    await cachedOnBoth([first.access_token]);
    const res = await fetch(`${a.url}/oauth2/revoke`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token: first.access_token, client_id: client.client_id }),
    });
    const committedAt = performance.now();
    assert.equal(res.status, 200);
    await assertEndedWithinBound([first.access_token], committedAt);
  });

  test('a revocation made while the LISTEN connections are being cut again and again is never answered active', async () => {
    const tokens = await Promise.all([0, 1, 2].map(() => oauthLogin(a.url, client, { username: 'storm', password: password('storm') })));
    await cachedOnBoth(tokens.map((t) => t.access_token));
    const lossesBefore = await metric(b, 'mauth_introspection_cache_listener_losses_total');
    // For about two seconds, every listening backend of this database is terminated within a
    // millisecond or so of appearing: notifications of that time are mostly lost.
    const cutter = db`
      DO $$
      BEGIN
        FOR i IN 1..1500 LOOP
          PERFORM pg_stat_clear_snapshot();
          PERFORM pg_terminate_backend(pid) FROM pg_stat_activity
          WHERE datname = current_database() AND application_name = 'mauth introspection listener';
          PERFORM pg_sleep(0.001);
        END LOOP;
      END $$`.then(() => undefined);
    try {
      await waitUntil('B noticed the cut', async () => (await metric(b, 'mauth_introspection_cache_listener_losses_total')) > lossesBefore);
      for (const token of tokens) {
        // Answered by the database or a cache refilled meanwhile, the token is active until revoked.
        assert.equal(await activeOn(b, token.access_token), true);
        const res = await fetch(`${a.url}/oauth2/revoke`, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams({ token: token.access_token, client_id: client.client_id }),
        });
        const committedAt = performance.now();
        assert.equal(res.status, 200);
        await assertEndedWithinBound([token.access_token], committedAt);
      }
    } finally {
      await cutter;
    }
    await waitUntil('both instances listen again after the cuts', async () =>
      (await Promise.all([a, b].map((i) => metric(i, 'mauth_introspection_cache_listening')))).every((v) => v === 1),
    );
  });
});
