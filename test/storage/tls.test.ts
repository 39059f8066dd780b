// Database TLS: `database.ssl_mode` and the certificates reach the client, checked against the
// local PostgreSQL with TLS turned on by this file (a CA of its own) and off again afterwards.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { DatabaseConfig } from '../../src/config/types.js';
import { connect } from '../../src/storage/db.js';
import { TEST_DATABASE_URL, testDatabaseSection } from '../support/database.js';
import { createTestPki, removeTestPki, restoreTls, serveTls, tlsUnavailable, type TestPki } from '../support/postgres-tls.js';

const skip = await tlsUnavailable(TEST_DATABASE_URL);
const server = new URL(TEST_DATABASE_URL);

function databaseConfig(fields: Partial<DatabaseConfig>): DatabaseConfig {
  const split = fields.uri === undefined
    ? { host: server.hostname, port: Number(server.port || 5432), username: decodeURIComponent(server.username) || 'postgres', database: server.pathname.slice(1) }
    : {};
  return testDatabaseSection({ ...split, ...fields });
}

/** Connects with `fields` and reports whether the session is encrypted and which client certificate it showed. */
async function session(fields: Partial<DatabaseConfig>): Promise<{ ssl: boolean; client_dn: string | null }> {
  const db = await connect(databaseConfig(fields));
  try {
    const [row] = await db.sql<{ ssl: boolean; client_dn: string | null }[]>`SELECT ssl, client_dn FROM pg_stat_ssl WHERE pid = pg_backend_pid()`;
    return { ssl: row!.ssl, client_dn: row!.client_dn };
  } finally {
    await db.close();
  }
}

async function refused(fields: Partial<DatabaseConfig>, pattern: RegExp): Promise<void> {
  const db = await connect(databaseConfig(fields));
  try {
    await assert.rejects(db.sql`SELECT 1`, pattern);
  } finally {
    await db.close();
  }
}

function uri(params: Record<string, string>): string {
  const url = new URL(TEST_DATABASE_URL);
  for (const [key, value] of Object.entries(params)) url.searchParams.set(key, value);
  return url.href;
}

describe('database TLS against a PostgreSQL serving a test CA', { skip }, () => {
  let pki: TestPki;

  before(async () => {
    // A run killed before its after hook may have left TLS on, pointing at deleted files.
    await restoreTls(TEST_DATABASE_URL);
    pki = await createTestPki();
    await serveTls(TEST_DATABASE_URL, pki.server, pki.ca);
  });

  after(async () => {
    await restoreTls(TEST_DATABASE_URL);
    await removeTestPki(pki);
  });

  test('verify-full with the right CA connects encrypted (inline PEM and file)', async () => {
    assert.equal((await session({ ssl_mode: 'verify-full', ssl_ca: pki.ca.cert })).ssl, true);
    assert.equal((await session({ ssl_mode: 'verify-full', ssl_ca_file: pki.ca.certFile })).ssl, true);
  });

  test('verify-full and verify-ca refuse a server whose certificate another CA signed', async () => {
    await refused({ ssl_mode: 'verify-full', ssl_ca: pki.otherCa.cert }, /certificate/i);
    await refused({ ssl_mode: 'verify-ca', ssl_ca: pki.otherCa.cert }, /certificate/i);
  });

  test('disable connects in plaintext even though the server offers TLS', async () => {
    assert.equal((await session({ ssl_mode: 'disable' })).ssl, false);
  });

  test('require and prefer encrypt without checking the certificate', async () => {
    assert.equal((await session({ ssl_mode: 'require' })).ssl, true);
    assert.equal((await session({ ssl_mode: 'prefer' })).ssl, true);
  });

  test('no ssl_mode means prefer, as libpq and MAS: encrypted when the server offers it', async () => {
    assert.equal((await session({})).ssl, true);
  });

  test('require with a CA checks the chain as verify-ca does (libpq and MAS)', async () => {
    assert.equal((await session({ ssl_mode: 'require', ssl_ca: pki.ca.cert })).ssl, true);
    await refused({ ssl_mode: 'require', ssl_ca: pki.otherCa.cert }, /certificate/i);
  });

  test('a client certificate and key are presented to the server', async () => {
    const inline = await session({ ssl_mode: 'verify-full', ssl_ca: pki.ca.cert, ssl_certificate: pki.client.cert, ssl_key: pki.client.key });
    assert.deepEqual(inline, { ssl: true, client_dn: '/CN=mauth-client' });
    const files = await session({ ssl_mode: 'verify-full', ssl_ca_file: pki.ca.certFile, ssl_certificate_file: pki.client.certFile, ssl_key_file: pki.client.keyFile });
    assert.deepEqual(files, { ssl: true, client_dn: '/CN=mauth-client' });
  });

  test('a uri with sslmode and sslrootcert behaves as ssl_mode and ssl_ca_file', async () => {
    assert.equal((await session({ uri: uri({ sslmode: 'verify-full', sslrootcert: pki.ca.certFile }) })).ssl, true);
    await refused({ uri: uri({ sslmode: 'verify-full', sslrootcert: pki.otherCa.certFile }) }, /certificate/i);
    assert.equal((await session({ uri: uri({ sslmode: 'disable' }) })).ssl, false);
    const withClient = await session({ uri: uri({ sslmode: 'verify-ca', sslrootcert: pki.ca.certFile, sslcert: pki.client.certFile, sslkey: pki.client.keyFile }) });
    assert.deepEqual(withClient, { ssl: true, client_dn: '/CN=mauth-client' });
  });

  test('ssl_mode applies to a uri without sslmode', async () => {
    await refused({ uri: TEST_DATABASE_URL, ssl_mode: 'verify-full', ssl_ca: pki.otherCa.cert }, /certificate/i);
    assert.equal((await session({ uri: TEST_DATABASE_URL, ssl_mode: 'verify-full', ssl_ca: pki.ca.cert })).ssl, true);
  });

  // Last: it swaps the server certificate for one naming another host.
  test('verify-full checks the host name, verify-ca does not', async () => {
    await serveTls(TEST_DATABASE_URL, pki.serverElsewhere, pki.ca);
    await refused({ ssl_mode: 'verify-full', ssl_ca: pki.ca.cert }, /altnames|host ?name|does not match/i);
    assert.equal((await session({ ssl_mode: 'verify-ca', ssl_ca: pki.ca.cert })).ssl, true);
  });
});
