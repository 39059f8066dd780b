// The directory connection pool against a real slapd, seen through a TCP relay that counts and can
// cut connections: at most pool_size connections, reused; an empty password never reaches the
// directory; a connection the server dropped is replaced (never silently reopened without TLS);
// certificate and service-account problems are told apart for the operator.
import assert from 'node:assert/strict';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { applySchema } from '../../src/config/apply-schema.js';
import { ProblemList } from '../../src/config/problems.js';
import { ROOT_SCHEMA } from '../../src/config/sections.js';
import type { Config } from '../../src/config/types.js';
import { DirectoryConnections, DirectoryUnavailableError, type LdapConfig } from '../../src/directory/connections.js';
import { PEOPLE, SERVICE_DN, slapdAvailable, startSlapd, type Slapd } from '../support/slapd.js';

const skip = !slapdAvailable ? 'needs slapd' : false;

interface Relay {
  port: number;
  /** Connections accepted so far. */
  accepted: number;
  /** Bytes clients sent so far. */
  bytesIn: number;
  /** Cuts every open connection, as a directory restart would. */
  cut(): void;
  close(): Promise<void>;
}

async function startRelay(targetPort: number): Promise<Relay> {
  const sockets = new Set<Socket>();
  const relay = { accepted: 0, bytesIn: 0 } as Relay;
  const server: Server = createServer((client) => {
    relay.accepted += 1;
    const upstream = connect(targetPort, '127.0.0.1');
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => {});
    }
    client.on('data', (d: Buffer) => (relay.bytesIn += d.length));
    client.pipe(upstream);
    upstream.pipe(client);
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  relay.port = (server.address() as { port: number }).port;
  relay.cut = () => {
    for (const s of sockets) s.destroy();
  };
  relay.close = () =>
    new Promise((resolve) => {
      relay.cut();
      server.close(() => resolve());
    });
  return relay;
}

function ldapConfig(ldap: Record<string, unknown>): LdapConfig {
  return (applySchema(ROOT_SCHEMA, { ldap: { enabled: true, base_dns: [PEOPLE], ...ldap } }, new ProblemList().at('')) as Config).ldap;
}

let plain: Slapd;
let tls: Slapd;
const ALICE_DN = `uid=alice,${PEOPLE}`;
const ALICE = 'Alice-directory-pw-1';

before(async () => {
  if (skip) return;
  [plain, tls] = await Promise.all([startSlapd(), startSlapd({ tls: true })]);
  for (const slapd of [plain, tls]) await slapd.addUser('alice', { password: ALICE });
});

after(async () => {
  await plain?.close();
  await tls?.close();
});

describe('directory connections', { skip }, () => {
  test('at most pool_size connections, reused across logins; an empty password is never sent', async () => {
    const relay = await startRelay(plain.port);
    const connections = new DirectoryConnections(ldapConfig({ uri: `ldap://127.0.0.1:${relay.port}`, bind_dn: SERVICE_DN, bind_password: plain.servicePassword, pool_size: 2 }));
    try {
      assert.deepEqual(await connections.verifyPassword(ALICE_DN, ''), { ok: false });
      assert.equal(relay.accepted, 0, 'an empty password opens no connection at all');

      const work = Array.from({ length: 8 }, (_, i) =>
        i % 2 === 0 ? connections.verifyPassword(ALICE_DN, i % 4 === 0 ? ALICE : 'wrong').then((r) => r.ok) : connections.search(PEOPLE, { filter: '(uid=alice)', attributes: ['uid'] }).then((e) => e.length === 1),
      );
      assert.deepEqual(await Promise.all(work), [true, true, false, true, true, true, false, true]);
      assert.ok(relay.accepted <= 2, `${relay.accepted} connections for pool_size 2`);
      const before = relay.accepted;
      assert.equal((await connections.verifyPassword(ALICE_DN, ALICE)).ok, true);
      assert.equal(relay.accepted, before, 'an idle connection is reused');
    } finally {
      await connections.close();
      await relay.close();
    }
  });

  test('a connection the directory dropped is replaced by a fresh one, and the next login works', async () => {
    const relay = await startRelay(tls.port);
    const connections = new DirectoryConnections(ldapConfig({ uri: `ldap://127.0.0.1:${relay.port}`, start_tls: true, ca_file: tls.caFile, bind_dn: SERVICE_DN, bind_password: tls.servicePassword, pool_size: 1 }));
    try {
      assert.equal((await connections.verifyPassword(ALICE_DN, ALICE)).ok, true);
      assert.equal(relay.accepted, 1);
      relay.cut();
      // Let the close reach the client before the next login.
      await new Promise((resolve) => setImmediate(resolve));
      assert.equal((await connections.verifyPassword(ALICE_DN, ALICE)).ok, true);
      assert.equal((await connections.search(PEOPLE, { filter: '(uid=alice)', attributes: ['uid'] })).length, 1);
      assert.equal(relay.accepted, 2);
    } finally {
      await connections.close();
      await relay.close();
    }
  });

  test('StartTLS with a certificate nobody vouched for is refused (kind tls) unless insecure_skip_verify', async () => {
    const untrusted = new DirectoryConnections(ldapConfig({ uri: tls.url, start_tls: true, timeout: 5 }));
    try {
      await assert.rejects(untrusted.verifyPassword(ALICE_DN, ALICE), (err: unknown) => err instanceof DirectoryUnavailableError && err.kind === 'tls');
    } finally {
      await untrusted.close();
    }
    const skipping = new DirectoryConnections(ldapConfig({ uri: tls.url, start_tls: true, insecure_skip_verify: true }));
    try {
      assert.equal((await skipping.verifyPassword(ALICE_DN, ALICE)).ok, true);
    } finally {
      await skipping.close();
    }
  });

  test('a wrong service password is told apart (kind service_bind); a directory that is not there is unreachable', async () => {
    const wrong = new DirectoryConnections(ldapConfig({ uri: plain.url, bind_dn: SERVICE_DN, bind_password: 'not-it' }));
    try {
      await assert.rejects(wrong.probe(), (err: unknown) => err instanceof DirectoryUnavailableError && err.kind === 'service_bind' && !err.message.includes('not-it'));
    } finally {
      await wrong.close();
    }
    const relay = await startRelay(plain.port);
    const port = relay.port;
    await relay.close();
    const gone = new DirectoryConnections(ldapConfig({ uri: `ldap://127.0.0.1:${port}` }));
    try {
      await assert.rejects(gone.probe(), (err: unknown) => err instanceof DirectoryUnavailableError && err.kind === 'unreachable');
    } finally {
      await gone.close();
    }
  });
});
