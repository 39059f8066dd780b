// Logins never stall the hot path: with the password pool at one slot and a queue of two, a
// burst of concurrent legacy logins keeps it full; the logins beyond the queue are answered 429
// M_LIMIT_EXCEEDED with retry_after_ms (and Retry-After) at once, the others succeed, and
// introspection of a valid token still answers meanwhile (a liveness bound, not a benchmark).
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';
import { startHomeserverDouble, type HomeserverDouble } from '../support/homeserver-double.js';
import { createMauth, type MauthInstance } from '../support/mauth-process.js';
import { introspect } from '../support/oauth-client.js';

const SERVER_NAME = 'saturation.test';
/** Concurrent clients logging in again and again: far more than one slot and two queue places. */
const CLIENTS = 8;
/** How long the burst may take to overflow the queue (generous: the machine may be loaded). */
const SATURATION_DEADLINE_MS = 60_000;
/** Generous: an idle introspection takes milliseconds; this only catches a stalled event loop. */
const LIVENESS_MS = 2000;

let hs: HomeserverDouble;
let mauth: MauthInstance;

before(async () => {
  const secret = randomBytes(16).toString('hex');
  hs = await startHomeserverDouble({ secret, serverName: SERVER_NAME });
  mauth = await createMauth({
    homeserverUrl: hs.url,
    serverName: SERVER_NAME,
    secret,
    extra: { passwords: { max_concurrency: 1, max_queue: 2 } },
  });
  for (const name of ['ada', 'bob']) {
    const made = await mauth.cli('manage', 'register-user', name, '--password', `${name}-password-1`, '--yes');
    assert.equal(made.code, 0, made.stderr);
  }
  await mauth.start();
});

after(async () => {
  await mauth?.stop();
  await mauth?.drop();
  await hs?.stop();
});

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

test('saturated logins: the overflow gets 429 M_LIMIT_EXCEEDED with retry_after_ms, the rest succeed, and introspection stays live', async () => {
  const first = await login('ada', 'ada-password-1');
  assert.equal(first.status, 200, JSON.stringify(first.body));
  const token: string = first.body.access_token;
  assert.equal((await introspect(mauth.url, mauth.secret, token)).body.active, true);

  const answers: Answer[] = [];
  let stop = false;
  let sawBusy: () => void;
  const busy = new Promise<void>((resolve) => (sawBusy = resolve));
  // Each client logs in again as soon as it has an answer, waiting out retry_after_ms after a 429
  // as a well-behaved client would: the pool stays full (one running, two waiting) throughout.
  const clients = Array.from({ length: CLIENTS }, async (_, i) => {
    const user = i % 2 === 0 ? 'ada' : 'bob';
    while (!stop) {
      const answer = await login(user, `${user}-password-1`);
      answers.push(answer);
      if (answer.status === 429) {
        sawBusy();
        await new Promise((resolve) => setTimeout(resolve, Math.min(answer.body.retry_after_ms ?? 1000, 1000)));
      }
    }
  });
  const finished = Promise.all(clients);

  try {
    // The queue overflowed: from here on the pool is saturated.
    let deadline: NodeJS.Timeout | undefined;
    const overdue = new Promise<never>((_, reject) => {
      deadline = setTimeout(() => reject(new Error(`no login was refused within ${SATURATION_DEADLINE_MS} ms: the queue never overflowed`)), SATURATION_DEADLINE_MS);
    });
    await Promise.race([busy, overdue]).finally(() => clearTimeout(deadline));
    for (let i = 0; i < 3; i += 1) {
      const info = await introspectLive(token);
      assert.equal(info.status, 200);
      assert.equal(info.body.active, true);
      assert.equal(info.body.username, 'ada');
    }
  } finally {
    stop = true;
    await finished;
  }

  const refused = answers.filter((a) => a.status === 429);
  const succeeded = answers.filter((a) => a.status === 200);
  assert.deepEqual(answers.filter((a) => a.status !== 200 && a.status !== 429), [], 'only successes and 429s');
  assert.ok(refused.length > 0, 'some logins were refused');
  assert.ok(succeeded.length > 0, 'some logins got through');
  for (const answer of refused) {
    assert.equal(answer.body.errcode, 'M_LIMIT_EXCEEDED');
    assert.equal(typeof answer.body.error, 'string');
    assert.ok(Number.isInteger(answer.body.retry_after_ms) && answer.body.retry_after_ms > 0, JSON.stringify(answer.body));
    assert.equal(answer.retryAfter, String(Math.ceil(answer.body.retry_after_ms / 1000)));
  }
  for (const answer of succeeded) assert.match(answer.body.access_token, /^mct_/);

  // Once the burst is over the slot is free again: a login succeeds, a wrong password is a 403.
  assert.equal((await login('bob', 'bob-password-1')).status, 200);
  const wrong = await login('bob', 'not-the-password');
  assert.equal(wrong.status, 403);
  assert.equal(wrong.body.errcode, 'M_FORBIDDEN');
});
