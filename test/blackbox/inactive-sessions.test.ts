// Black box: experimental.inactive_session_expiration ends legacy sessions that nobody used for
// longer than `ttl`, and their devices leave the homeserver, while a session in use stays. The
// server runs in this process and its clock jumps over the ttl; each jump also runs the sweep (as
// its 15 s timer would), while the writing of uses still runs on its own 5 s timer, which the test
// waits for.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, test } from 'node:test';
import postgres from 'postgres';
import { startHomeserverDouble, type HomeserverDouble } from '../support/homeserver-double.js';
import { createInProcessMauth, type InProcessMauth } from '../support/mauth-inprocess.js';
import { introspect } from '../support/oauth-client.js';

const SERVER_NAME = 'idle.test';
const TTL = 600;
let hs: HomeserverDouble;
let mauth: InProcessMauth;
let db: postgres.Sql;

before(async () => {
  const secret = randomBytes(16).toString('hex');
  hs = await startHomeserverDouble({ secret, serverName: SERVER_NAME });
  mauth = await createInProcessMauth({
    homeserverUrl: hs.url,
    serverName: SERVER_NAME,
    secret,
    extra: { experimental: { inactive_session_expiration: { ttl: TTL } } },
  });
  const r = await mauth.cli('manage', 'register-user', 'ivy', '--password', 'ivy-pw-123456', '--yes');
  assert.equal(r.code, 0, r.stderr);
  db = postgres(mauth.databaseUrl, { max: 2, onnotice: () => {} });
  await mauth.start();
});

after(async () => {
  await db?.end();
  await mauth?.stop();
  await mauth?.drop();
  await hs?.stop();
});

async function compatToken(deviceId: string): Promise<string> {
  const r = await mauth.cli('manage', 'issue-compatibility-token', 'ivy', deviceId);
  assert.equal(r.code, 0, r.stderr);
  return r.stdout.trim();
}

async function lastActive(deviceId: string): Promise<Date | null> {
  const [row] = await db<{ last_active_at: Date | null }[]>`SELECT last_active_at FROM compat_sessions WHERE device_id = ${deviceId}`;
  return row.last_active_at;
}

/** Uses a session (an introspection, as Synapse makes) and waits until the use is written. */
async function use(deviceId: string, token: string): Promise<Date> {
  const before = await lastActive(deviceId);
  assert.equal((await introspect(mauth.url, mauth.secret, token)).body.active, true);
  const deadline = Date.now() + 10_000;
  for (;;) {
    const at = await lastActive(deviceId);
    if (at && (!before || at > before)) return at;
    assert.ok(Date.now() < deadline, `the use of ${deviceId} was recorded`);
    await sleep(200);
  }
}

test('legacy sessions idle past the ttl end within 30 s, devices deleted; a session in use stays', async () => {
  const idle = await compatToken('IDLEDEVICE01');
  const neverUsed = await compatToken('NEVERUSED001');
  const busy = await compatToken('BUSYDEVICE01');
  assert.equal((await introspect(mauth.url, mauth.secret, idle)).body.active, true, 'used once, then never again');
  await mauth.advance(TTL - 30);
  // Half a minute from its ttl; the uses below keep it alive.
  const agedAt = await use('BUSYDEVICE01', busy);
  await mauth.advance(90);
  const deadline = Date.now() + 30_000;
  const ended = new Set<string>();
  while (ended.size < 2) {
    assert.ok(Date.now() < deadline, `idle sessions still active after 30 s (ended: ${[...ended].join(', ') || 'none'})`);
    for (const [name, token] of [['idle', idle], ['never used', neverUsed]] as const) {
      if (!ended.has(name) && (await introspect(mauth.url, mauth.secret, token)).body.active === false) ended.add(name);
    }
    assert.equal((await introspect(mauth.url, mauth.secret, busy)).body.active, true, 'the session in use stays active');
    await sleep(500);
  }

  for (const device of ['IDLEDEVICE01', 'NEVERUSED001']) {
    await hs.waitFor((c) => c.path === '/_synapse/mas/delete_device' && c.status === 204 && (c.body as { device_id: string }).device_id === device, 15_000);
    assert.ok(!hs.devices('ivy').has(device), `${device} is gone from the homeserver`);
  }
  assert.ok(hs.devices('ivy').has('BUSYDEVICE01'), 'the device in use stays');
  // Its uses were recorded (in a batch, a few seconds later), which is what keeps it alive.
  const recorded = Date.now() + 10_000;
  while (!((await lastActive('BUSYDEVICE01'))! > agedAt!)) {
    assert.ok(Date.now() < recorded, 'the use of the busy session was recorded');
    await sleep(200);
  }
});
