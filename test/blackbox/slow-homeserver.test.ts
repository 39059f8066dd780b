// Black box: a stalled homeserver must not take the database pool with it. Legacy logins wait for
// Synapse to create their device; while they wait, they hold no database connection, so /health
// and introspection (Synapse's own hot path) keep answering.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';
import { startHomeserverDouble, type HomeserverDouble } from '../support/homeserver-double.js';
import { createInProcessMauth, type InProcessMauth } from '../support/mauth-inprocess.js';

const SERVER_NAME = 'slow-hs.test';
const POOL_SIZE = 2;
const LOGINS = POOL_SIZE + 2;
/**
 * How long the logins may take to reach the stalled homeserver. Synapse's upsert_device is held
 * until the test has checked /health and introspection, so the stall outlasts both answers.
 */
const REACH_TIMEOUT_MS = 7000;

let hs: HomeserverDouble;
let mauth: InProcessMauth;

async function call(path: string, init: RequestInit = {}) {
  const res = await fetch(`${mauth.url}${path}`, { ...init, signal: AbortSignal.timeout(30_000) });
  const text = await res.text();
  return { status: res.status, body: text ? (JSON.parse(text) as any) : undefined };
}

/** Waits until `count` upsert_device calls are held by the stalled homeserver (none is answered before release). */
async function inFlightAtLeast(count: number, since: number): Promise<void> {
  const deadline = since + REACH_TIMEOUT_MS;
  while (hs.inFlight('upsert_device') < count) {
    assert.ok(Date.now() < deadline, `only ${hs.inFlight('upsert_device')} of ${count} logins reached the homeserver while it stalled`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const login = (deviceId: string) =>
  call('/_matrix/client/v3/login', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ type: 'm.login.password', identifier: { type: 'm.id.user', user: 'paula' }, password: 'paula-pw-1', device_id: deviceId }),
  });

const introspect = (token: string) =>
  call('/oauth2/introspect', {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Bearer ${mauth.secret}`, 'x-mas-supports-device-id': '1' },
    body: new URLSearchParams({ token, token_type_hint: 'access_token' }).toString(),
  });

before(async () => {
  const secret = randomBytes(16).toString('hex');
  hs = await startHomeserverDouble({ secret, serverName: SERVER_NAME });
  mauth = await createInProcessMauth({
    homeserverUrl: hs.url,
    serverName: SERVER_NAME,
    secret,
    database: { max_connections: POOL_SIZE },
    extra: { rate_limiting: { login: { per_ip: { burst: 100, per_second: 10 } } } },
  });
  const r = await mauth.cli('manage', 'register-user', 'paula', '--password', 'paula-pw-1', '--yes');
  assert.equal(r.code, 0, r.stderr);
  await mauth.start();
});

after(async () => {
  await mauth?.stop();
  await mauth?.drop();
  await hs?.stop();
});

test('legacy logins waiting for a stalled homeserver hold no database connection: /health and introspection answer meanwhile', async () => {
  const first = await login('SLOWFIRST');
  assert.equal(first.status, 200, JSON.stringify(first.body));
  const token = first.body.access_token as string;

  const release = hs.hold('upsert_device');
  const started = Date.now();
  const logins = Array.from({ length: LOGINS }, (_, i) => login(`SLOWDEV${i}`));
  try {
    // As many logins wait at the homeserver as the pool has connections, and more are coming.
    await inFlightAtLeast(POOL_SIZE, started);
    const [health, introspection] = await Promise.all([call('/health'), introspect(token)]);
    assert.equal(health.status, 200, JSON.stringify(health.body));
    assert.equal(introspection.status, 200, JSON.stringify(introspection.body));
    assert.equal(introspection.body.active, true);
    // Every login reaches the homeserver at once: none waits for another's connection.
    await inFlightAtLeast(LOGINS, started);
  } finally {
    release();
  }
  for (const answer of await Promise.all(logins)) assert.equal(answer.status, 200, JSON.stringify(answer.body));
  const devices = hs.devices('paula');
  for (let i = 0; i < LOGINS; i++) assert.ok(devices.has(`SLOWDEV${i}`), `device SLOWDEV${i} exists`);
});
