// `database` TLS keys and timeouts as `config check` sees them: conflicts between the keys and
// the uri's libpq parameters are refused, certificate files are read at load, defaults hold.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import YAML from 'yaml';
import { splitUriTls } from '../../src/config/database.js';
import { checkConfig, generateConfig } from '../../src/config/load.js';

let dir: string;
let base: string;
let count = 0;

async function check(database: Record<string, unknown>) {
  const path = join(dir, `database-${(count += 1)}.yaml`);
  await writeFile(path, YAML.stringify({ database }));
  return checkConfig({ files: [base, path], env: {} });
}

async function errors(database: Record<string, unknown>): Promise<string[]> {
  const result = await check(database);
  assert.equal(result.config, undefined, 'expected the configuration to be rejected');
  return result.errors.map((problem) => `${problem.key}: ${problem.message}`);
}

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mauth-dbconfig-'));
  base = join(dir, 'base.yaml');
  await writeFile(base, await generateConfig());
});

after(async () => {
  await rm(dir, { recursive: true, force: true });
});

test('statement, lock and request timeouts have documented defaults and can be set', async () => {
  const defaults = (await check({ uri: 'postgresql://db/mauth' })).config!.database;
  assert.deepEqual([defaults.statement_timeout, defaults.lock_timeout, defaults.request_deadline], [10, 5, 15]);
  const set = (await check({ uri: 'postgresql://db/mauth', statement_timeout: 30, lock_timeout: 0, request_deadline: 40 })).config!.database;
  assert.deepEqual([set.statement_timeout, set.lock_timeout, set.request_deadline], [30, 0, 40]);
});

test('the job lease is 30 s unless set, and must be at least a second', async () => {
  assert.equal((await check({ uri: 'postgresql://db/mauth' })).config!.database.job_lease, 30);
  assert.equal((await check({ uri: 'postgresql://db/mauth', job_lease: 5 })).config!.database.job_lease, 5);
  const refused = await errors({ uri: 'postgresql://db/mauth', job_lease: 0 });
  assert.ok(refused.some((line) => line.startsWith('database.job_lease:')), refused.join('\n'));
});

test('certificate files are read at load, and an unreadable one is an error naming the key', async () => {
  const ca = join(dir, 'ca.pem');
  await writeFile(ca, '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n');
  const loaded = (await check({ host: 'db', ssl_mode: 'verify-full', ssl_ca_file: ca })).config!.database;
  assert.match(loaded.ssl_ca ?? '', /BEGIN CERTIFICATE/);
  const missing = await errors({ host: 'db', ssl_mode: 'verify-full', ssl_ca_file: join(dir, 'nowhere.pem') });
  assert.ok(missing.some((e) => e.startsWith('database.ssl_ca_file: cannot read')), missing.join('\n'));
  const fromUri = await errors({ uri: `postgresql://db/mauth?sslmode=verify-full&sslrootcert=${join(dir, 'nowhere.pem')}` });
  assert.ok(fromUri.some((e) => e.startsWith('database.uri: cannot read')), fromUri.join('\n'));
});

test('conflicting TLS settings between the keys and the uri are refused', async () => {
  const mode = await errors({ uri: 'postgresql://db/mauth?sslmode=require', ssl_mode: 'verify-full' });
  assert.ok(mode.some((e) => e.startsWith('database.ssl_mode:')), mode.join('\n'));
  const unknown = await errors({ uri: 'postgresql://db/mauth?sslmode=sometimes' });
  assert.ok(unknown.some((e) => e.startsWith('database.uri: sslmode must be one of')), unknown.join('\n'));
  const ca = await errors({ uri: 'postgresql://db/mauth?sslrootcert=/a.pem', ssl_ca: 'PEM' });
  assert.ok(ca.some((e) => e.startsWith('database.ssl_ca:')), ca.join('\n'));
});

test('a client certificate with a mode that never sends it, or TLS over a UNIX socket, is refused', async () => {
  const weak = await errors({ host: 'db', ssl_mode: 'prefer', ssl_certificate: 'PEM', ssl_key: 'PEM' });
  assert.ok(weak.some((e) => e.startsWith('database.ssl_certificate: a client certificate needs')), weak.join('\n'));
  const socket = await errors({ socket: '/run/postgresql', ssl_mode: 'verify-full' });
  assert.ok(socket.some((e) => e.startsWith('database.ssl_mode: TLS does not apply to a UNIX socket')), socket.join('\n'));
});

test('the uri keeps its other parameters once the TLS ones are taken out', () => {
  assert.deepEqual(splitUriTls('postgresql://u:p@db:5432/mauth?sslmode=verify-ca&application_name=x&sslrootcert=%2Fca.pem'), {
    uri: 'postgresql://u:p@db:5432/mauth?application_name=x',
    tls: { ssl_mode: 'verify-ca', ssl_ca_file: '/ca.pem' },
  });
  assert.deepEqual(splitUriTls('postgresql://db/mauth'), { uri: 'postgresql://db/mauth', tls: {} });
});

test('TLS keys without a PostgreSQL server (the embedded database) are refused, not ignored', async () => {
  const embedded = await errors({ ssl_mode: 'verify-full' });
  assert.ok(embedded.some((e) => e.startsWith('database.ssl_mode: applies to a PostgreSQL server only')), embedded.join('\n'));
});
