// Black box: SIGTERM drains. A request in flight (a compat login held up by a table lock) still
// gets its normal answer, new connections are refused at once, idle keep-alive connections are
// closed, and the process exits 0 once the request is done; a second signal ends it at once.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import { after, before, test } from 'node:test';
import { startHomeserverDouble, type HomeserverDouble } from '../support/homeserver-double.js';
import { createMauth, type MauthInstance } from '../support/mauth-process.js';
import { lockTable } from '../support/table-lock.js';

const SERVER_NAME = 'drain.test';
/** Generous: "happened at all", well under the 60 s grace and lock timeouts configured below. */
const WITHIN_MS = 15_000;
const embedded = process.env.MAUTH_TEST_DATABASE === 'embedded';

let hs: HomeserverDouble;
let mauth: MauthInstance;

function login(): Promise<Response> {
  return fetch(`${mauth.url}/_matrix/client/v3/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ type: 'm.login.password', identifier: { type: 'm.id.user', user: 'piet' }, password: 'piet-pw-1' }),
    signal: AbortSignal.timeout(60_000),
  });
}

/** Resolves once a new TCP connection to the server is refused. */
async function refusesConnections(): Promise<void> {
  const { port } = new URL(mauth.url);
  const deadline = Date.now() + WITHIN_MS;
  while (Date.now() < deadline) {
    const refused = await new Promise<boolean>((resolve) => {
      const socket = connect(Number(port), '127.0.0.1', () => {
        socket.destroy();
        resolve(false);
      });
      socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code === 'ECONNREFUSED'));
    });
    if (refused) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('the server kept accepting new connections');
}

/** A keep-alive connection that has had one answer and now sits idle; resolves `closed` when the server ends it. */
async function idleKeepAlive(): Promise<{ socket: Socket; closed: Promise<void> }> {
  const { port } = new URL(mauth.url);
  const socket = connect(Number(port), '127.0.0.1');
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  let received = '';
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.on('data', (chunk) => {
      received += chunk.toString();
      if (/\r\n\r\n[\s\S]*\}/.test(received)) resolve();
    });
    socket.write('GET /.well-known/openid-configuration HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: keep-alive\r\n\r\n');
  });
  assert.match(received, /^HTTP\/1\.1 200/);
  return { socket, closed };
}

before(async () => {
  if (embedded) return;
  const secret = randomBytes(16).toString('hex');
  hs = await startHomeserverDouble({ secret, serverName: SERVER_NAME });
  // Long timeouts and grace: only the drain itself may end the held request.
  mauth = await createMauth({
    homeserverUrl: hs.url,
    serverName: SERVER_NAME,
    secret,
    database: { lock_timeout: 60, statement_timeout: 60, request_deadline: 60 },
    http: { shutdown_grace: 60 },
  });
  const r = await mauth.cli('manage', 'register-user', 'piet', '--password', 'piet-pw-1', '--yes');
  assert.equal(r.code, 0, r.stderr);
});

after(async () => {
  await mauth?.stop();
  await mauth?.drop();
  await hs?.stop();
});

test('SIGTERM lets the in-flight login finish, refuses new connections, closes idle ones and exits 0', { skip: embedded && 'needs PostgreSQL' }, async () => {
  await mauth.start();
  const idle = await idleKeepAlive();
  const lock = await lockTable(mauth.databaseUrl, 'users');
  let inFlight: Promise<Response>;
  try {
    inFlight = login();
    await lock.waiters(1);
    mauth.signal('SIGTERM');
    await refusesConnections();
    await Promise.race([idle.closed, new Promise((_, reject) => setTimeout(() => reject(new Error('the idle keep-alive connection stayed open')), WITHIN_MS))]);
  } finally {
    await lock.release();
  }
  const answer = await inFlight;
  assert.equal(answer.status, 200);
  const body = (await answer.json()) as { user_id: string; access_token: string };
  assert.equal(body.user_id, `@piet:${SERVER_NAME}`);
  assert.match(body.access_token, /^mct_/);
  assert.deepEqual(await mauth.exited(), { code: 0, signal: null });
});

test('a second SIGTERM during the drain exits at once, without waiting for the held request', { skip: embedded && 'needs PostgreSQL' }, async () => {
  await mauth.start();
  const lock = await lockTable(mauth.databaseUrl, 'users');
  try {
    const inFlight = login().then(
      (res) => `answered ${res.status}`,
      () => 'cut',
    );
    await lock.waiters(1);
    mauth.signal('SIGTERM');
    await refusesConnections();
    mauth.signal('SIGTERM');
    const exit = await Promise.race([
      mauth.exited(),
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error('still running after the second SIGTERM')), WITHIN_MS)),
    ]);
    // 128 + SIGTERM: a forced stop is not a clean one.
    assert.deepEqual(exit, { code: 143, signal: null });
    assert.equal(await inFlight, 'cut');
  } finally {
    await lock.release();
  }
});
