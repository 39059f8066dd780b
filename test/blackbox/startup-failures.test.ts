// Black box: `mauth server` that cannot start exits non-zero within seconds with one line on
// stderr naming the problem (no stack trace), instead of hanging until killed.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { dirname, join } from 'node:path';
import { after, before, test } from 'node:test';
import YAML from 'yaml';
import { createMauth, freePort, ROOT, type MauthInstance } from '../support/mauth-process.js';

const EXIT_WITHIN_MS = 15_000;
// oidc-provider prints this at import on Node 20 (end of life; production runs 22 or newer). It
// is the runtime's, not a start-up failure's, so it is left out of the one-line count.
const RUNTIME_WARNING = /^oidc-provider WARNING: Unsupported runtime/;

interface Outcome {
  code: number | null;
  signal: NodeJS.Signals | null;
  ms: number;
  stderr: string;
  lines: string[];
}

/** Runs `mauth -c <files…> server` until it exits, killing it after a generous bound. */
async function runServer(configFiles: string[]): Promise<Outcome> {
  const args = ['--import', import.meta.resolve('tsx'), join(ROOT, 'test/support/mauth-cli.ts'), ...configFiles.flatMap((f) => ['-c', f]), 'server'];
  const started = Date.now();
  const child = spawn(process.execPath, args, { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, MAUTH_LOG_FORMAT: 'json' } });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const killer = setTimeout(() => child.kill('SIGKILL'), 3 * EXIT_WITHIN_MS);
  // 'close': the process has exited and its stderr is read to the end.
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.once('close', (c, s) => resolve([c, s])));
  clearTimeout(killer);
  const lines = stderr.split('\n').filter((line) => line.trim() !== '' && !RUNTIME_WARNING.test(line));
  return { code, signal, ms: Date.now() - started, stderr, lines };
}

function assertFailedClearly(outcome: Outcome, problem: RegExp) {
  assert.equal(outcome.signal, null, `mauth server had to be killed (it hung):\n${outcome.stderr}`);
  assert.ok(outcome.code !== null && outcome.code !== 0, `exit code ${outcome.code}`);
  assert.ok(outcome.ms < EXIT_WITHIN_MS, `exited after ${outcome.ms} ms`);
  assert.equal(outcome.lines.length, 1, `one line on stderr:\n${outcome.stderr}`);
  const [line] = outcome.lines as [string];
  assert.match(line, /^mauth: /);
  assert.match(line, problem);
  assert.doesNotMatch(outcome.stderr, /^\s+at /m, 'no stack trace');
}

let mauth: MauthInstance;
const holders: Server[] = [];

/** A config file that adds `overrides` on top of the test instance's files. */
async function withOverrides(name: string, overrides: Record<string, unknown>): Promise<string[]> {
  const file = join(dirname(mauth.configFiles[0]!), `${name}.yaml`);
  await writeFile(file, YAML.stringify(overrides));
  return [...mauth.configFiles, file];
}

before(async () => {
  mauth = await createMauth({ homeserverUrl: 'http://127.0.0.1:9/', serverName: 'startup.test', secret: 'startup-secret-startup-secret' });
});

after(async () => {
  for (const holder of holders) holder.close();
  await mauth?.drop();
});

test('a bad configuration value', async () => {
  const outcome = await runServer(await withOverrides('bad-value', { http: { shutdown_grace: 'banana' } }));
  assertFailedClearly(outcome, /invalid configuration: http\.shutdown_grace .*must be an integer/);
});

test('an unsupported option: a Sentry DSN', async () => {
  const outcome = await runServer(await withOverrides('sentry', { telemetry: { sentry: { dsn: 'https://key@sentry.example/1' } } }));
  assertFailedClearly(outcome, /telemetry\.sentry\.dsn .*not supported yet/);
});

test('an unsupported option: TLS on a listener', async () => {
  const port = await freePort();
  const outcome = await runServer(
    await withOverrides('tls', {
      http: { listeners: [{ name: 'web', resources: [{ name: 'health' }], binds: [{ host: '127.0.0.1', port }], tls: { certificate_file: '/nonexistent.pem', key_file: '/nonexistent.key' } }] },
    }),
  );
  assertFailedClearly(outcome, /http\.listeners\[0\]\.tls .*not supported/);
});

test('an unreachable database', { skip: process.env.MAUTH_TEST_DATABASE === 'embedded' && 'configures a PostgreSQL server' }, async () => {
  const closed = await freePort();
  const outcome = await runServer(await withOverrides('closed-database', { database: { uri: `postgresql://mauth@127.0.0.1:${closed}/mauth`, connect_timeout: 5 } }));
  assertFailedClearly(outcome, new RegExp(`cannot connect to the database: .*ECONNREFUSED 127\\.0\\.0\\.1:${closed}`));
});

test('a port in use (after another bind already listened)', async () => {
  const holder = createServer();
  holders.push(holder);
  await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
  const taken = (holder.address() as { port: number }).port;
  const free = await freePort();
  const outcome = await runServer(
    await withOverrides('port-in-use', {
      http: { listeners: [{ name: 'web', resources: [{ name: 'health' }], binds: [{ host: '127.0.0.1', port: free }, { host: '127.0.0.1', port: taken }] }] },
    }),
  );
  assertFailedClearly(outcome, new RegExp(`listener web: .*address already in use 127\\.0\\.0\\.1:${taken}`));
});
