// The homeserver the login, refresh, mixed and soak benchmarks talk to, run as a child process
// (bench/harness.ts `startHomeserverStub`): Synapse's `/_synapse/mas/*` answered at once with the
// status codes Synapse gives (201 for a new device or user), nothing kept, nothing recorded, so
// a long run costs neither this process nor Mauth's memory. The tests use the recording double
// (test/support/homeserver-double.ts); a benchmark needs only a homeserver that keeps up.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

const server = createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    const url = new URL(req.url ?? '/', 'http://stub');
    let status = 200;
    let body: unknown = {};
    if (url.pathname === '/_synapse/mas/query_user') {
      const localpart = url.searchParams.get('localpart') ?? '';
      body = { user_id: `@${localpart}:bench.localhost`, display_name: localpart, avatar_url: null, is_suspended: false, is_deactivated: false };
    } else if (url.pathname === '/_synapse/mas/upsert_device' || url.pathname === '/_synapse/mas/provision_user') {
      status = 201;
    } else if (!url.pathname.startsWith('/_synapse/mas/')) {
      status = 404;
      body = { errcode: 'M_UNRECOGNIZED', error: 'Unrecognized request' };
    }
    const text = JSON.stringify(body);
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
    res.end(text);
  });
});
server.keepAliveTimeout = 65_000;
server.listen(0, '127.0.0.1', () => process.send?.({ port: (server.address() as AddressInfo).port }));
process.on('SIGTERM', () => {
  server.closeAllConnections();
  server.close(() => process.exit(0));
});
process.on('disconnect', () => process.exit(0));
