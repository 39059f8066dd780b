// StartTLS that the server (or someone between) refuses must never leave a plain connection in
// the pool: the next login would send its password unencrypted. A fake directory answers the
// StartTLS request with protocolError and records any bind it is sent.
import assert from 'node:assert/strict';
import { createServer, type Socket } from 'node:net';
import { describe, test } from 'node:test';
import { applySchema } from '../../src/config/apply-schema.js';
import { ProblemList } from '../../src/config/problems.js';
import { ROOT_SCHEMA } from '../../src/config/sections.js';
import type { Config } from '../../src/config/types.js';
import { DirectoryConnections, DirectoryUnavailableError, type LdapConfig } from '../../src/directory/connections.js';

function ldapConfig(ldap: Record<string, unknown>): LdapConfig {
  return (applySchema(ROOT_SCHEMA, { ldap: { enabled: true, base_dns: ['ou=people,dc=example,dc=org'], ...ldap } }, new ProblemList().at('')) as Config).ldap;
}

/** Reads one LDAPMessage's id and protocol-op tag (short or long BER lengths). */
function parseMessage(buf: Buffer): { id: number; op: number; length: number } | undefined {
  if (buf.length < 2 || buf[0] !== 0x30) return undefined;
  let offset = 1;
  let length = buf[offset++]!;
  if (length & 0x80) {
    const bytes = length & 0x7f;
    length = 0;
    for (let i = 0; i < bytes; i++) length = (length << 8) | buf[offset++]!;
  }
  if (buf.length < offset + length) return undefined;
  // messageID INTEGER
  const idLength = buf[offset + 1]!;
  let id = 0;
  for (let i = 0; i < idLength; i++) id = (id << 8) | buf[offset + 2 + i]!;
  const op = buf[offset + 2 + idLength]!;
  return { id, op, length: offset + length };
}

/** LDAPMessage { id, [APPLICATION tag] { resultCode, matchedDN "", diagnosticMessage "" } } */
function response(id: number, tag: number, code: number): Buffer {
  const body = Buffer.from([0x0a, 0x01, code, 0x04, 0x00, 0x04, 0x00]);
  const op = Buffer.concat([Buffer.from([tag, body.length]), body]);
  const idPart = Buffer.from([0x02, 0x01, id]);
  return Buffer.concat([Buffer.from([0x30, idPart.length + op.length]), idPart, op]);
}

describe('StartTLS refused', () => {
  test('a refused StartTLS is "directory unavailable" (kind tls), and no later bind goes out in clear text', async () => {
    let binds = 0;
    const sockets = new Set<Socket>();
    const server = createServer((socket) => {
      sockets.add(socket);
      socket.on('error', () => {});
      let pending = Buffer.alloc(0);
      socket.on('data', (data: Buffer) => {
        pending = Buffer.concat([pending, data]);
        for (let message = parseMessage(pending); message; message = parseMessage(pending)) {
          pending = pending.subarray(message.length);
          if (message.op === 0x77) socket.write(response(message.id, 0x78, 2)); // ExtendedRequest → protocolError
          else if (message.op === 0x60) {
            binds += 1;
            socket.write(response(message.id, 0x61, 49));
          }
        }
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as { port: number }).port;
    const connections = new DirectoryConnections(ldapConfig({ uri: `ldap://127.0.0.1:${port}`, start_tls: true, pool_size: 1, timeout: 5, connect_timeout: 5 }));
    try {
      for (let i = 0; i < 3; i++) {
        await assert.rejects(connections.verifyPassword('uid=alice,ou=people,dc=example,dc=org', 'secret-password'), (err: unknown) => err instanceof DirectoryUnavailableError && err.kind === 'tls');
      }
      await assert.rejects(connections.probe(), (err: unknown) => err instanceof DirectoryUnavailableError && err.kind === 'tls');
      assert.equal(binds, 0, 'no bind was sent without TLS');
    } finally {
      await connections.close();
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});
