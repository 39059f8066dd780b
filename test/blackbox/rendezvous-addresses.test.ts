// Black box: whose allowance a rendezvous creation takes (`rate_limiting.rendezvous`). The server
// listens on TCP with `trusted_proxies: []`, where X-Forwarded-For is not believed, and on a UNIX
// socket, which only the local reverse proxy can reach and whose X-Forwarded-For is believed (as
// MAS does): every client behind that proxy must not share one allowance. IPv6 clients are
// counted per /64, since one holds a whole /64.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { startHomeserverDouble, type HomeserverDouble } from '../support/homeserver-double.js';
import { createInProcessMauth, type InProcessMauth } from '../support/mauth-inprocess.js';
import { freePort } from '../support/mauth-process.js';

const CREATE = '/_matrix/client/unstable/org.matrix.msc4108/rendezvous';
const BURST = 2;
let hs: HomeserverDouble;
let mauth: InProcessMauth;
let dir: string;
let socket: string;
let tcp: { host: string; port: number };

before(async () => {
  const secret = randomBytes(16).toString('hex');
  hs = await startHomeserverDouble({ secret, serverName: 'rendezvous-addresses.test' });
  dir = await mkdtemp(join(tmpdir(), 'mauth-rdv-'));
  socket = join(dir, 'mauth.sock');
  tcp = { host: '127.0.0.1', port: await freePort() };
  mauth = await createInProcessMauth({
    homeserverUrl: hs.url,
    serverName: 'rendezvous-addresses.test',
    secret,
    http: {
      trusted_proxies: [],
      listeners: [{ name: 'web', resources: [{ name: 'rendezvous' }], binds: [tcp, { socket }] }],
    },
    extra: { rate_limiting: { rendezvous: { burst: BURST, per_second: 0.0001 } } },
  });
  await mauth.start();
});

after(async () => {
  await mauth?.stop();
  await mauth?.drop();
  await hs?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** Creates a session through the socket or over TCP, claiming to be `forwardedFor`; the status. */
function create(via: 'socket' | 'tcp', forwardedFor: string): Promise<number> {
  const target = via === 'socket' ? { socketPath: socket } : tcp;
  return new Promise((resolve, reject) => {
    const headers = { 'content-type': 'text/plain', 'content-length': '5', 'x-forwarded-for': forwardedFor };
    const req = request({ ...target, path: CREATE, method: 'POST', headers }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode!));
    });
    req.on('error', reject);
    req.end('hello');
  });
}

async function statuses(via: 'socket' | 'tcp', addresses: string[]): Promise<number[]> {
  const out: number[] = [];
  for (const address of addresses) out.push(await create(via, address));
  return out;
}

const allowed = [...Array(BURST).fill(201), 429];

test('over TCP from an untrusted peer, X-Forwarded-For is ignored: every claimed address shares the peer’s allowance', async () => {
  assert.deepEqual(await statuses('tcp', ['198.51.100.1', '198.51.100.2', '198.51.100.3']), allowed);
});

test('through the UNIX socket, each client address forwarded by the proxy has an allowance of its own', async () => {
  assert.deepEqual(await statuses('socket', ['203.0.113.1', '203.0.113.1', '203.0.113.1']), allowed);
  assert.equal(await create('socket', '203.0.113.2'), 201);
  assert.equal(await create('socket', '203.0.113.3'), 201);
});

test('IPv6 addresses of one /64 share an allowance; another /64 does not; an IPv4-mapped address is its IPv4 address', async () => {
  assert.deepEqual(await statuses('socket', ['2001:db8:7:1::1', '2001:db8:7:1::2', '2001:db8:7:1:abcd::99']), allowed);
  assert.equal(await create('socket', '2001:db8:7:2::1'), 201);
  assert.deepEqual(await statuses('socket', ['203.0.113.9', '::ffff:203.0.113.9', '203.0.113.9']), allowed);
});
