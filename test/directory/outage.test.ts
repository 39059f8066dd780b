// A directory that hangs (SIGSTOP: connections are still accepted, nothing is answered) or is
// stopped: directory users get the clear "directory unavailable" answer within the configured
// timeout (compat: 503 M_UNKNOWN with a retry hint; browser: an error page), never a 500 or a
// hang, local users log in meanwhile, and directory logins work again once slapd is back,
// without restarting Mauth. Plain ldap:// here (the StartTLS set-up is login.test.ts's).
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { startHomeserverDouble, type HomeserverDouble } from '../support/homeserver-double.js';
import { Browser, parseForms } from '../support/http-client.js';
import { createMauth, type MauthInstance } from '../support/mauth-process.js';
import { PEOPLE, SERVICE_DN, slapdAvailable, startSlapd, type Slapd } from '../support/slapd.js';

const SERVER_NAME = 'outage.test';
const TIMEOUT_SECONDS = 1;
/**
 * What an answer "within the timeout" may take beyond it: the HTTP round trip and the database on
 * a busy test machine. A hang would take request_deadline (15 s) or forever.
 */
const SLACK_MS = 2500;
const skip = !slapdAvailable || process.env.MAUTH_TEST_DATABASE === 'embedded' ? 'needs slapd and PostgreSQL' : false;

let slapd: Slapd;
let hs: HomeserverDouble;
let mauth: MauthInstance;

const ALICE = 'Alice-directory-pw-1';
const LUCY = 'Lucy-local-pw-1';

async function login(user: string, password: string) {
  const started = Date.now();
  const res = await fetch(`${mauth.url}/_matrix/client/v3/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ type: 'm.login.password', identifier: { type: 'm.id.user', user }, password }),
  });
  return { status: res.status, retryAfter: res.headers.get('retry-after'), body: (await res.json()) as any, ms: Date.now() - started };
}

function assertUnavailable(res: Awaited<ReturnType<typeof login>>, what: string) {
  assert.equal(res.status, 503, `${what}: ${JSON.stringify(res.body)}`);
  assert.equal(res.body.errcode, 'M_UNKNOWN');
  assert.match(res.body.error, /directory/i);
  assert.ok(Number.isInteger(res.body.retry_after_ms) && res.body.retry_after_ms > 0, what);
  assert.ok(res.retryAfter && Number(res.retryAfter) > 0, what);
  assert.ok(res.ms < TIMEOUT_SECONDS * 1000 + SLACK_MS, `${what}: answered after ${res.ms} ms`);
}

async function browserLogin(user: string, password: string) {
  const browser = new Browser(mauth.url);
  const form = parseForms(await (await browser.get('/login')).text()).find((f) => f.action.startsWith('/login'))!;
  const started = Date.now();
  const res = await browser.postForm(form.action, { ...form.fields, username: user, password });
  return { status: res.status, retryAfter: res.headers.get('retry-after'), text: await res.text(), ms: Date.now() - started };
}

before(async () => {
  if (skip) return;
  slapd = await startSlapd();
  await slapd.addUser('alice', { password: ALICE, displayName: 'Alice', mail: ['alice@example.org'] });
  const secret = randomBytes(16).toString('hex');
  hs = await startHomeserverDouble({ secret, serverName: SERVER_NAME });
  mauth = await createMauth({
    homeserverUrl: hs.url,
    serverName: SERVER_NAME,
    secret,
    extra: {
      ldap: {
        enabled: true,
        uri: slapd.url,
        bind_dn: SERVICE_DN,
        bind_password: slapd.servicePassword,
        base_dns: [PEOPLE],
        connect_timeout: TIMEOUT_SECONDS,
        timeout: TIMEOUT_SECONDS,
        pool_size: 2,
      },
    },
  });
  assert.equal((await mauth.cli('manage', 'register-user', 'lucy', '--password', LUCY, '--yes')).code, 0);
  await mauth.start();
  // Alice has an account and Mauth has directory connections open before anything breaks.
  assert.equal((await login('alice', ALICE)).status, 200);
});

after(async () => {
  slapd?.resume();
  await mauth?.stop();
  await mauth?.drop();
  await hs?.stop();
  await slapd?.close();
});

describe('directory outages', { skip }, () => {
  test('slapd hung: directory users get "directory unavailable" within the timeout, local users log in, then it recovers', async () => {
    slapd.hang();
    try {
      // Twice as many attempts as pooled connections: every one of them is answered in time.
      for (let i = 0; i < 4; i += 1) assertUnavailable(await login('alice', ALICE), `attempt ${i + 1}`);
      // A name no local account has needs the directory too.
      assertUnavailable(await login('someone-new', 'whatever'), 'unknown name');
      // The local account's password is checked here: the hung directory is not asked.
      const local = await login('lucy', LUCY);
      assert.equal(local.status, 200, JSON.stringify(local.body));
      const page = await browserLogin('alice', ALICE);
      assert.equal(page.status, 503);
      assert.ok(page.retryAfter);
      assert.match(page.text, /directory service is not answering/);
      assert.ok(page.ms < TIMEOUT_SECONDS * 1000 + SLACK_MS, `the page took ${page.ms} ms`);
    } finally {
      slapd.resume();
    }
    const back = await login('alice', ALICE);
    assert.equal(back.status, 200, JSON.stringify(back.body));
  });

  test('slapd stopped: directory users get "directory unavailable", local users log in; slapd back: directory logins work again without a restart', async () => {
    await slapd.stop();
    try {
      assertUnavailable(await login('alice', ALICE), 'stopped');
      const page = await browserLogin('alice', ALICE);
      assert.equal(page.status, 503);
      assert.match(page.text, /directory service is not answering/);
      const local = await login('lucy', LUCY);
      assert.equal(local.status, 200, JSON.stringify(local.body));
      // A wrong local password is still a wrong password, not an outage.
      assert.equal((await login('lucy', 'not-it')).status, 403);
    } finally {
      await slapd.start();
    }
    const back = await login('alice', ALICE);
    assert.equal(back.status, 200, JSON.stringify(back.body));
    assert.equal((await browserLogin('alice', ALICE)).status, 303);
  });

  test('the log says why the directory was unavailable, without secrets', async () => {
    await mauth.waitForOutput(/directory unavailable/);
    const output = mauth.output();
    assert.match(output, /did not answer/);
    for (const secret of [ALICE, LUCY, slapd.servicePassword, slapd.adminPassword]) assert.ok(!output.includes(secret), `the log contains ${secret}`);
    assert.doesNotMatch(output, /"status":500/, 'no request failed with an internal error');
  });
});
