// Runs the real `mauth` CLI as a child process against a database of its own and a generated
// configuration, the way an operator would.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import postgres from 'postgres';
import YAML from 'yaml';
import { generateConfig } from '../../src/config/generate.js';
import { TEST_DATABASE_URL } from './database.js';

const run = promisify(execFile);
export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const ENTRY = ['--import', import.meta.resolve('tsx'), join(ROOT, 'test/support/mauth-cli.ts')];

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
    srv.on('error', reject);
  });
}

export interface MauthInstance {
  url: string;
  configFiles: string[];
  databaseUrl: string;
  secret: string;
  cli(...args: string[]): Promise<{ stdout: string; stderr: string; code: number }>;
  start(...extraArgs: string[]): Promise<void>;
  /** Starts the server without waiting for it to answer (signals during start-up). */
  launch(...extraArgs: string[]): void;
  stop(): Promise<void>;
  /** Sends `signal` to the running server (shutdown tests). */
  signal(signal: NodeJS.Signals): void;
  /** Resolves with the server's exit code (or the signal that ended it) once it has exited. */
  exited(): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  output(): string;
  /** Resolves once the server's output matches (logs arrive on their own pipe, after the response). */
  waitForOutput(pattern: RegExp, timeoutMs?: number): Promise<void>;
  drop(): Promise<void>;
}

export async function createDatabase(): Promise<{ url: string; drop(): Promise<void> }> {
  const name = `mauth_${randomBytes(5).toString('hex')}`;
  const admin = postgres(TEST_DATABASE_URL, { max: 1, onnotice: () => {} });
  await admin.unsafe(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(TEST_DATABASE_URL);
  url.pathname = `/${name}`;
  return {
    url: url.href,
    async drop() {
      const a = postgres(TEST_DATABASE_URL, { max: 1, onnotice: () => {} });
      await a.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await a.end();
    },
  };
}

export async function createMauth(options: {
  homeserverUrl: string;
  serverName: string;
  secret: string;
  extra?: Record<string, unknown>;
  /** Keys added to the `database` section beside the test database's `uri` (pool size, timeouts). */
  database?: Record<string, unknown>;
  /** Keys added to the `http` section beside the test listener (e.g. the shutdown grace). */
  http?: Record<string, unknown>;
  /** Another instance's database, to run a second instance beside it (its `drop()` leaves the database alone). */
  databaseUrl?: string;
  /** Resources the test listener serves beside the usual ones (e.g. `adminapi`). */
  resources?: string[];
  /** Binds of the test listener beside its TCP port (e.g. `{ socket: path }`). */
  binds?: Record<string, unknown>[];
  /**
   * Another instance of the same deployment: this one reads that one's configuration files (its
   * secrets, keys, issuer and database), with only the listener on a port of its own. Its `drop()`
   * leaves the database alone.
   */
  configFrom?: MauthInstance;
}): Promise<MauthInstance> {
  const dir = await mkdtemp(join(tmpdir(), 'mauth-'));
  const port = await freePort();
  // MAUTH_TEST_DATABASE=embedded runs the server on its embedded PGlite database instead (tests
  // that read the database directly need PostgreSQL and are skipped by their own check).
  const embedded = process.env.MAUTH_TEST_DATABASE === 'embedded';
  const shared = options.configFrom?.databaseUrl ?? options.databaseUrl;
  const db = shared !== undefined ? { url: shared, drop: async () => {} } : embedded ? { url: '', drop: async () => {} } : await createDatabase();
  const url = `http://127.0.0.1:${port}`;
  const { secret } = options;
  const listeners = [
    {
      name: 'web',
      resources: ['discovery', 'human', 'oauth', 'compat', 'assets', 'health', 'prometheus', 'rendezvous', ...(options.resources ?? [])].map((name) => ({ name })),
      binds: [{ host: '127.0.0.1', port }, ...(options.binds ?? [])],
    },
  ];
  const base = join(dir, 'base.yaml');
  const overrides = join(dir, 'local.yaml');
  if (options.configFrom) {
    await writeFile(overrides, YAML.stringify({ http: { listeners } }));
  } else {
    await writeFile(base, await generateConfig());
    await writeFile(
      overrides,
      YAML.stringify({
        http: {
          public_base: `${url}/`,
          issuer: `${url}/`,
          listeners,
          ...options.http,
        },
        database: embedded && shared === undefined ? { embedded_path: join(dir, 'data'), ...options.database } : { uri: db.url, ...options.database },
        matrix: { kind: 'synapse', homeserver: options.serverName, secret, endpoint: options.homeserverUrl },
        // Every test logs in from 127.0.0.1; tests of the limits themselves set their own.
        rate_limiting: {
          login: { per_ip: { burst: 10000, per_second: 1000 }, per_account: { burst: 10000, per_second: 1000 } },
          username_availability: { burst: 10000, per_second: 1000 },
        },
        ...options.extra,
      }),
    );
  }
  const configFiles = options.configFrom ? [...options.configFrom.configFiles, overrides] : [base, overrides];
  const configArgs = configFiles.flatMap((f) => ['-c', f]);
  let child: ChildProcess | undefined;
  let output = '';
  const launch = (...extraArgs: string[]): ChildProcess => {
    const started = spawn(process.execPath, [...ENTRY, ...configArgs, 'server', ...extraArgs], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    started.stdout!.on('data', (d) => (output += d));
    started.stderr!.on('data', (d) => (output += d));
    child = started;
    return started;
  };

  return {
    url,
    configFiles,
    databaseUrl: db.url,
    secret,
    async cli(...args) {
      try {
        const { stdout, stderr } = await run(process.execPath, [...ENTRY, ...configArgs, ...args], { cwd: dir });
        return { stdout, stderr, code: 0 };
      } catch (err) {
        const e = err as { stdout: string; stderr: string; code: number };
        return { stdout: e.stdout, stderr: e.stderr, code: e.code };
      }
    },
    launch,
    async start(...extraArgs: string[]) {
      const child = launch(...extraArgs);
      // Generous: on a loaded 2-core machine tsx alone can take tens of seconds to start a process.
      const deadline = Date.now() + 60_000;
      while (Date.now() < deadline) {
        if (child.exitCode !== null) throw new Error(`mauth exited early:\n${output}`);
        try {
          const res = await fetch(`${url}/health`);
          if (res.ok) return;
        } catch {
          /* not up yet */
        }
        await new Promise((r) => setTimeout(r, 100));
      }
      throw new Error(`mauth did not become healthy:\n${output}`);
    },
    async stop() {
      if (!child || child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((r) => child!.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    },
    signal(signal) {
      if (!child || child.exitCode !== null || child.signalCode !== null) throw new Error('mauth is not running');
      child.kill(signal);
    },
    async exited() {
      if (!child) throw new Error('mauth was never started');
      if (child.exitCode === null && child.signalCode === null) await new Promise((r) => child!.once('exit', r));
      return { code: child.exitCode, signal: child.signalCode };
    },
    output: () => output,
    async waitForOutput(pattern, timeoutMs = 5000) {
      const deadline = Date.now() + timeoutMs;
      while (!pattern.test(output)) {
        if (Date.now() > deadline) throw new Error(`server output never matched ${pattern}:\n${output.slice(-3000)}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    async drop() {
      await db.drop();
    },
  };
}
