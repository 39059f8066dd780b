// The Synapse connection against the homeserver double: paths, bodies, auth, error mapping.
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, beforeEach, describe, test } from 'node:test';
import { inspect } from 'node:util';
import {
  createHomeserverConnection,
  HomeserverError,
  type HomeserverConnection,
} from '../../src/homeserver/index.js';
import { startHomeserverDouble, type HomeserverDouble, type RecordedCall } from '../support/homeserver-double.js';

const SECRET = 'shared-secret-for-tests-0123456789';
const SERVER_NAME = 'example.test';

let double: HomeserverDouble;
let hs: HomeserverConnection;

function connect(overrides: { secret?: string; endpoint?: string; timeoutMs?: number } = {}): HomeserverConnection {
  return createHomeserverConnection(
    {
      kind: 'synapse',
      homeserver: SERVER_NAME,
      secret: overrides.secret ?? SECRET,
      endpoint: overrides.endpoint ?? double.url,
    },
    { timeoutMs: overrides.timeoutMs },
  );
}

function lastCall(): RecordedCall {
  const call = double.calls.at(-1);
  assert.ok(call, 'expected a homeserver call');
  return call;
}

async function rejectsWith(promise: Promise<unknown>, status: number, errcode: string | undefined): Promise<HomeserverError> {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof HomeserverError, `expected HomeserverError, got ${String(err)}`);
    assert.equal(err.status, status);
    assert.equal(err.errcode, errcode);
    return err;
  }
  assert.fail('expected the call to fail');
}

before(async () => {
  double = await startHomeserverDouble({ secret: SECRET, serverName: SERVER_NAME, exclusive: [/^bridge_/] });
  hs = connect();
});

after(async () => {
  await double.stop();
});

beforeEach(() => {
  double.calls.length = 0;
});

describe('SynapseConnection', () => {
  test('mxid and serverName', () => {
    assert.equal(hs.serverName, SERVER_NAME);
    assert.equal(hs.mxid('alice'), '@alice:example.test');
  });

  test('provisionUser creates (201) then updates (200) with the exact body fields', async () => {
    const created = await hs.provisionUser({
      localpart: 'alice',
      displayName: 'Alice',
      emails: ['alice@example.org'],
      locked: false,
    });
    assert.deepEqual(created, { created: true });
    let call = lastCall();
    assert.equal(call.method, 'POST');
    assert.equal(call.path, '/_synapse/mas/provision_user');
    assert.equal(call.authorization, `Bearer ${SECRET}`);
    assert.equal(call.status, 201);
    assert.deepEqual(call.body, {
      localpart: 'alice',
      set_displayname: 'Alice',
      set_emails: ['alice@example.org'],
      locked: false,
    });
    assert.equal(double.users.get('alice')?.displayName, 'Alice');
    assert.deepEqual(double.users.get('alice')?.emails, ['alice@example.org']);

    const updated = await hs.provisionUser({ localpart: 'alice', displayName: null, emails: [], locked: true });
    assert.deepEqual(updated, { created: false });
    call = lastCall();
    assert.equal(call.status, 200);
    // No `set_*` next to an `unset_*`, and no `unset_*: false`: Synapse rejects both keys together.
    assert.deepEqual(call.body, { localpart: 'alice', unset_displayname: true, unset_emails: true, locked: true });
    assert.equal(double.users.get('alice')?.displayName, null);
    assert.deepEqual(double.users.get('alice')?.emails, []);
    assert.equal(double.users.get('alice')?.locked, true);

    await hs.provisionUser({ localpart: 'alice', avatarUrl: 'mxc://example.test/abc' });
    assert.deepEqual(lastCall().body, { localpart: 'alice', set_avatar_url: 'mxc://example.test/abc' });
    await hs.provisionUser({ localpart: 'alice', avatarUrl: null });
    assert.deepEqual(lastCall().body, { localpart: 'alice', unset_avatar_url: true });
  });

  test('provisionUser with an invalid localpart fails with the errcode', async () => {
    await rejectsWith(hs.provisionUser({ localpart: 'Not Valid' }), 400, 'M_INVALID_USERNAME');
  });

  test('queryUser returns the user, or undefined for 404', async () => {
    await hs.provisionUser({ localpart: 'bob', displayName: 'Bob' });
    const bob = await hs.queryUser('bob');
    assert.deepEqual(bob, {
      user_id: '@bob:example.test',
      display_name: 'Bob',
      avatar_url: null,
      is_suspended: false,
      is_deactivated: false,
    });
    const call = lastCall();
    assert.equal(call.method, 'GET');
    assert.equal(call.path, '/_synapse/mas/query_user');
    assert.deepEqual(call.query, { localpart: 'bob' });
    assert.equal(call.authorization, `Bearer ${SECRET}`);
    assert.equal(call.body, undefined);

    assert.equal(await hs.queryUser('nobody'), undefined);
    assert.equal(lastCall().status, 404);
  });

  test('queryUser encodes the localpart in the query', async () => {
    assert.equal(await hs.queryUser('a/b+c=d'), undefined);
    assert.deepEqual(lastCall().query, { localpart: 'a/b+c=d' });
  });

  test('isLocalpartAvailable maps 400 errcodes to unavailable', async () => {
    assert.deepEqual(await hs.isLocalpartAvailable('carol'), { available: true });
    assert.equal(lastCall().path, '/_synapse/mas/is_localpart_available');
    assert.deepEqual(lastCall().query, { localpart: 'carol' });

    await hs.provisionUser({ localpart: 'carol' });
    assert.deepEqual(await hs.isLocalpartAvailable('carol'), { available: false, errcode: 'M_USER_IN_USE' });
    assert.deepEqual(await hs.isLocalpartAvailable('Carol!'), { available: false, errcode: 'M_INVALID_USERNAME' });
    assert.deepEqual(await hs.isLocalpartAvailable('bridge_x'), { available: false, errcode: 'M_EXCLUSIVE' });

    const before = double.calls.length;
    assert.deepEqual(await hs.isLocalpartAvailable('zoë'), { available: false, errcode: 'M_INVALID_USERNAME' });
    assert.equal(double.calls.length, before, 'non-ASCII localparts are refused without asking Synapse');
  });

  test('isLocalpartAvailable throws for other failures', async () => {
    double.failNext('is_localpart_available', 1, 500);
    await rejectsWith(hs.isLocalpartAvailable('dave'), 500, 'M_UNKNOWN');
  });

  test('device calls: upsert, rename, sync, delete', async () => {
    await hs.provisionUser({ localpart: 'erin' });

    assert.deepEqual(await hs.upsertDevice('erin', 'DEV1', 'Erin phone'), { created: true });
    let call = lastCall();
    assert.equal(call.path, '/_synapse/mas/upsert_device');
    assert.equal(call.status, 201);
    assert.deepEqual(call.body, { localpart: 'erin', device_id: 'DEV1', display_name: 'Erin phone' });

    assert.deepEqual(await hs.upsertDevice('erin', 'DEV1'), { created: false });
    call = lastCall();
    assert.equal(call.status, 200);
    assert.deepEqual(call.body, { localpart: 'erin', device_id: 'DEV1' }, 'no display_name key when none is given');

    await hs.updateDeviceDisplayName('erin', 'DEV1', 'Renamed');
    call = lastCall();
    assert.equal(call.path, '/_synapse/mas/update_device_display_name');
    assert.deepEqual(call.body, { localpart: 'erin', device_id: 'DEV1', display_name: 'Renamed' });
    assert.equal(double.deviceDisplayName('erin', 'DEV1'), 'Renamed');

    await rejectsWith(hs.updateDeviceDisplayName('erin', 'NOPE', 'x'), 404, 'M_NOT_FOUND');

    await hs.syncDevices('erin', ['DEV2', 'DEV3', 'DEV2']);
    call = lastCall();
    assert.equal(call.path, '/_synapse/mas/sync_devices');
    assert.deepEqual(call.body, { localpart: 'erin', devices: ['DEV2', 'DEV3'] });
    assert.deepEqual(double.devices('erin'), new Set(['DEV2', 'DEV3']));

    await hs.deleteDevice('erin', 'DEV2');
    call = lastCall();
    assert.equal(call.path, '/_synapse/mas/delete_device');
    assert.equal(call.status, 204);
    assert.deepEqual(call.body, { localpart: 'erin', device_id: 'DEV2' });
    assert.deepEqual(double.devices('erin'), new Set(['DEV3']));

    await hs.deleteDevice('erin', 'UNKNOWN');
    assert.equal(lastCall().status, 204, 'deleting an unknown device succeeds');

    await rejectsWith(hs.upsertDevice('ghost', 'DEV'), 404, 'M_NOT_FOUND');
  });

  test('user calls: display name, cross-signing reset, delete and reactivate', async () => {
    await hs.provisionUser({ localpart: 'frank', displayName: 'Frank', emails: ['f@example.org'] });
    await hs.upsertDevice('frank', 'FDEV');

    await hs.setDisplayname('frank', 'Franky');
    assert.deepEqual(lastCall().body, { localpart: 'frank', displayname: 'Franky' });
    assert.equal(lastCall().path, '/_synapse/mas/set_displayname');
    assert.equal(double.users.get('frank')?.displayName, 'Franky');

    await hs.unsetDisplayname('frank');
    assert.deepEqual(lastCall().body, { localpart: 'frank' });
    assert.equal(lastCall().path, '/_synapse/mas/unset_displayname');
    assert.equal(double.users.get('frank')?.displayName, null);

    await hs.allowCrossSigningReset('frank');
    assert.equal(lastCall().path, '/_synapse/mas/allow_cross_signing_reset');
    assert.deepEqual(lastCall().body, { localpart: 'frank' });
    assert.ok(double.users.get('frank')?.crossSigningResetAllowedUntil);

    await hs.deleteUser('frank', true);
    assert.equal(lastCall().path, '/_synapse/mas/delete_user');
    assert.deepEqual(lastCall().body, { localpart: 'frank', erase: true });
    assert.equal((await hs.queryUser('frank'))?.is_deactivated, true);
    assert.equal(double.users.get('frank')?.erased, true);
    assert.deepEqual(double.devices('frank'), new Set());

    await hs.reactivateUser('frank');
    assert.equal(lastCall().path, '/_synapse/mas/reactivate_user');
    assert.deepEqual(lastCall().body, { localpart: 'frank' });
    assert.equal((await hs.queryUser('frank'))?.is_deactivated, false);

    await rejectsWith(hs.deleteUser('ghost', false), 404, 'M_NOT_FOUND');
    await rejectsWith(hs.setDisplayname('ghost', 'x'), 404, 'M_NOT_FOUND');
  });

  test('a wrong secret is refused as Synapse does it: 403 M_UNKNOWN, and the secret is never shown', async () => {
    const wrong = connect({ secret: 'not-the-secret' });
    const err = await rejectsWith(wrong.provisionUser({ localpart: 'mallory' }), 403, 'M_UNKNOWN');
    assert.equal(lastCall().authorization, 'Bearer not-the-secret');
    assert.equal(double.users.has('mallory'), false);
    assert.ok(!err.message.includes('not-the-secret'));
    assert.ok(!inspect(hs, { depth: 5, showHidden: true }).includes(SECRET));
    assert.ok(!JSON.stringify(hs).includes(SECRET));
  });

  test('server errors become HomeserverError with status and errcode', async () => {
    double.failNext('provision_user', 1, 503, 'M_LIMIT_EXCEEDED');
    await rejectsWith(hs.provisionUser({ localpart: 'gina' }), 503, 'M_LIMIT_EXCEEDED');
    await hs.provisionUser({ localpart: 'gina' });
    assert.equal(lastCall().status, 201, 'only the next call fails');
  });

  test('endpoint with a trailing slash, and with a path prefix', async () => {
    const slash = connect({ endpoint: `${double.url}/` });
    assert.equal(await slash.queryUser('nobody'), undefined);
    assert.equal(lastCall().path, '/_synapse/mas/query_user');

    const prefixed = connect({ endpoint: `${double.url}/prefix` });
    // The double only serves the root, so this also shows that a 404 for an unknown *path* (Synapse
    // without MAS support, a wrong endpoint) is an error, not "no such user".
    await rejectsWith(prefixed.queryUser('nobody'), 404, 'M_UNRECOGNIZED');
    assert.equal(lastCall().path, '/prefix/_synapse/mas/query_user');
  });

  test('a homeserver that does not answer times out', async () => {
    const silent = createServer(() => {
      /* never answers */
    });
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = silent.address() as AddressInfo;
      const slow = connect({ endpoint: `http://127.0.0.1:${port}`, timeoutMs: 100 });
      const started = Date.now();
      const err = await rejectsWith(slow.deleteDevice('a', 'b'), 0, undefined);
      assert.match(err.message, /timed out after 100 ms/);
      assert.ok(Date.now() - started < 2000);
    } finally {
      silent.closeAllConnections();
      await new Promise((resolve) => silent.close(resolve));
    }
  });

  test('an unreachable homeserver is a HomeserverError with status 0', async () => {
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const { port } = probe.address() as AddressInfo;
    await new Promise((resolve) => probe.close(resolve));
    const down = connect({ endpoint: `http://127.0.0.1:${port}` });
    await rejectsWith(down.reactivateUser('a'), 0, undefined);
  });
});

describe('createHomeserverConnection', () => {
  test('synapse_modern is the same API; synapse_legacy is not supported yet', () => {
    const modern = createHomeserverConnection({ kind: 'synapse_modern', homeserver: 'hs.test', secret: 's', endpoint: 'http://x' });
    assert.equal(modern.mxid('a'), '@a:hs.test');
    assert.throws(
      () => createHomeserverConnection({ kind: 'synapse_legacy', homeserver: 'hs.test', secret: 's', endpoint: 'http://x' }),
      /synapse_legacy.*not supported yet/,
    );
  });
});
