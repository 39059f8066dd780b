// Logins never stall the hot path: with the password pool at one slot and a queue of two, a
// burst of concurrent legacy logins keeps it full; the logins beyond the queue are answered 429
// M_LIMIT_EXCEEDED with retry_after_ms (and Retry-After) at once, the others succeed, and
// introspection of a valid token still answers meanwhile (a liveness bound, not a benchmark).
// The browser login form (an unknown name: the dummy check waits in the same pool) and the admin
// API's set-password are answered 429 in their own formats while the pool is full.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startSetup, type Setup } from '../support/homeserver-setup.js';
import type { MauthInstance } from '../support/mauth-process.js';
import { introspect } from '../support/oauth-client.js';
import { Browser, parseForms } from '../support/http-client.js';
import { adminConfig, AdminApi, adminToken, STRONG_PASSWORD } from '../admin/support.js';

const SERVER_NAME = 'saturation.test';
/** Concurrent legacy clients logging in again and again: far more than one slot and two queue places. */
const CLIENTS = 8;
/** How long the burst may take to overflow the queue (generous: the machine may be loaded). */
const SATURATION_DEADLINE_MS = 60_000;
/** Generous: an idle introspection takes milliseconds; this only catches a stalled event loop. */
const LIVENESS_MS = 2000;

let setup: Setup<MauthInstance>;
let mauth: MauthInstance;

before(async () => {
  setup = await startSetup({
    serverName: SERVER_NAME,
    resources: ['adminapi'],
    extra: { ...adminConfig(), passwords: { max_concurrency: 1, max_queue: 2 } },
    users: ['ada', 'bob', 'carol'].map((name) => ({ name, password: `${name}-password-1` })),
  });
  ({ mauth } = setup);
});

after(() => setup?.stop());

interface Answer {
  status: number;
  retryAfter: string | null;
  body: any;
}

async function login(user: string, password: string): Promise<Answer> {
  const res = await fetch(`${mauth.url}/_matrix/client/v3/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ type: 'm.login.password', identifier: { type: 'm.id.user', user }, password }),
  });
  return { status: res.status, retryAfter: res.headers.get('retry-after'), body: await res.json() };
}

/** Introspects `token`, failing if no answer comes within LIVENESS_MS. */
async function introspectLive(token: string) {
  const timer = AbortSignal.timeout(LIVENESS_MS);
  const res = await fetch(`${mauth.url}/oauth2/introspect`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Bearer ${mauth.secret}`, 'x-mas-supports-device-id': '1' },
    body: new URLSearchParams({ token, token_type_hint: 'access_token' }).toString(),
    signal: timer,
  }).catch((err: unknown) => {
    throw new Error(`introspection did not answer within ${LIVENESS_MS} ms while logins saturated the pool`, { cause: err });
  });
  return { status: res.status, body: (await res.json()) as any };
}

/** What the browser login form answers for a name nobody has. */
async function browserLogin(): Promise<Answer> {
  const browser = new Browser(mauth.url);
  const page = await browser.get('/login');
  const form = parseForms(await page.text()).find((f) => f.action.startsWith('/login'));
  assert.ok(form, 'the login page has its form');
  const res = await browser.request(form.action, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ ...form.fields, username: 'nobody', password: 'a-guess' }).toString(),
  });
  return { status: res.status, retryAfter: res.headers.get('retry-after'), body: await res.text() };
}

test('saturated logins: the overflow gets 429 M_LIMIT_EXCEEDED with retry_after_ms, the rest succeed, and introspection stays live', async () => {
  const first = await login('ada', 'ada-password-1');
  assert.equal(first.status, 200, JSON.stringify(first.body));
  const token: string = first.body.access_token;
  assert.equal((await introspect(mauth.url, mauth.secret, token)).body.active, true);
  const admin = new AdminApi(mauth.url, await adminToken(mauth.url));
  const carol = await admin.call('GET', '/users/by-username/carol');
  assert.equal(carol.status, 200);
  const setPassword = async (): Promise<Answer> => {
    const answer = await admin.call('POST', `/users/${carol.body.data.id}/set-password`, { password: STRONG_PASSWORD });
    return { status: answer.status, retryAfter: answer.headers.get('retry-after'), body: answer.body };
  };

  let stop = false;
  /**
   * Calls `attempt` again and again until the test stops, waiting out Retry-After (at most a
   * second) after a 429 as a well-behaved client would; resolves `busy` at the first 429.
   */
  function client(attempt: () => Promise<Answer>, answers: Answer[], busy: { seen(): void }) {
    return (async () => {
      while (!stop) {
        const answer = await attempt();
        answers.push(answer);
        if (answer.status === 429) {
          busy.seen();
          await new Promise((resolve) => setTimeout(resolve, 1000));
        }
      }
    })();
  }
  const refusal = () => {
    let seen!: () => void;
    const promise = new Promise<void>((resolve) => (seen = resolve));
    return { seen, promise };
  };

  const compatAnswers: Answer[] = [];
  const browserAnswers: Answer[] = [];
  const adminAnswers: Answer[] = [];
  const compatBusy = refusal();
  const browserBusy = refusal();
  const adminBusy = refusal();
  const clients = [
    ...Array.from({ length: CLIENTS }, (_, i) => {
      const user = i % 2 === 0 ? 'ada' : 'bob';
      return client(() => login(user, `${user}-password-1`), compatAnswers, compatBusy);
    }),
    client(browserLogin, browserAnswers, browserBusy),
    client(setPassword, adminAnswers, adminBusy),
  ];
  const finished = Promise.all(clients);

  try {
    // The queue overflowed: from here on the pool is saturated.
    let deadline: NodeJS.Timeout | undefined;
    const overdue = new Promise<never>((_, reject) => {
      deadline = setTimeout(() => reject(new Error(`not every client was refused within ${SATURATION_DEADLINE_MS} ms: the queue never overflowed for it`)), SATURATION_DEADLINE_MS);
    });
    await Promise.race([compatBusy.promise, overdue]);
    for (let i = 0; i < 3; i += 1) {
      const info = await introspectLive(token);
      assert.equal(info.status, 200);
      assert.equal(info.body.active, true);
      assert.equal(info.body.username, 'ada');
    }
    await Promise.race([Promise.all([browserBusy.promise, adminBusy.promise]), overdue]).finally(() => clearTimeout(deadline));
  } finally {
    stop = true;
    await finished;
  }

  const refused = compatAnswers.filter((a) => a.status === 429);
  const succeeded = compatAnswers.filter((a) => a.status === 200);
  assert.deepEqual(compatAnswers.filter((a) => a.status !== 200 && a.status !== 429), [], 'only successes and 429s');
  assert.ok(refused.length > 0, 'some logins were refused');
  assert.ok(succeeded.length > 0, 'some logins got through');
  for (const answer of refused) {
    assert.equal(answer.body.errcode, 'M_LIMIT_EXCEEDED');
    assert.equal(typeof answer.body.error, 'string');
    assert.ok(Number.isInteger(answer.body.retry_after_ms) && answer.body.retry_after_ms > 0, JSON.stringify(answer.body));
    assert.equal(answer.retryAfter, String(Math.ceil(answer.body.retry_after_ms / 1000)));
  }
  for (const answer of succeeded) assert.match(answer.body.access_token, /^mct_/);

  // The browser form: a wrong name is 403 when its dummy check ran, 429 with the page when it could not wait.
  assert.deepEqual(browserAnswers.filter((a) => a.status !== 403 && a.status !== 429).map((a) => a.status), []);
  for (const answer of browserAnswers.filter((a) => a.status === 429)) {
    assert.match(answer.retryAfter ?? '', /^[1-9]\d*$/);
    assert.match(answer.body, /Too many passwords are being checked right now/);
  }
  // The admin API: 204 when the hash was made, 429 in MAS's error shape when it could not wait.
  assert.deepEqual(adminAnswers.filter((a) => a.status !== 204 && a.status !== 429).map((a) => a.status), []);
  for (const answer of adminAnswers.filter((a) => a.status === 429)) {
    assert.match(answer.retryAfter ?? '', /^[1-9]\d*$/);
    assert.match(answer.body.errors[0].title, /try again/);
  }

  // Once the burst is over the slot is free again: a login succeeds, a wrong password is a 403.
  assert.equal((await login('bob', 'bob-password-1')).status, 200);
  const wrong = await login('bob', 'not-the-password');
  assert.equal(wrong.status, 403);
  assert.equal(wrong.body.errcode, 'M_FORBIDDEN');
});
