// What every benchmark but syn2mas shares (see bench/README.md): the load generator in a child
// process, Mauth in the benchmark's own process with a configuration made for it, a homeserver
// stand-in in a child process, the bare introspection floor checked against Mauth, the
// measurement of the server process around a run, the interleaved warm-up, peak and half-peak
// runs, and the output helpers.
import { execFile, fork, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay, performance, PerformanceObserver } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import YAML from 'yaml';
import { generateConfig, loadConfig } from '../src/config/load.js';
import type { Config } from '../src/config/types.js';
import { startServer, type RunningServer } from '../src/http/server.js';
import { ROUTES } from '../src/oidc/provider.js';
import { freePort } from '../test/support/mauth-process.js';
import { startBaseline, type BaselineServer } from './baseline.js';
import { BENCH_DEVICE, BENCH_USERNAME, createBenchDatabase, seed, type BenchDatabase } from './fixtures.js';
import type { HashJob, LoadJob, LoadMessage, LoadProgress, LoadReply, LoadRequest, LoadSummary } from './load.js';

const ROOT = fileURLToPath(new URL('../', import.meta.url));

export function envNumber(name: string, fallback: number): number {
  const value = Number(process.env[name]);
  return Number.isFinite(value) && value > 0 ? value : fallback;
}

// --- output -------------------------------------------------------------------------------------

export function log(message: string): void {
  process.stderr.write(`[bench] ${message}\n`);
}

export function fmtMs(ms: number): string {
  return Number.isFinite(ms) ? `${ms.toFixed(2)} ms` : 'n/a';
}

export function fmtRate(rps: number): string {
  return Number.isFinite(rps) ? Math.round(rps).toString() : 'n/a';
}

export function fmtRatio(ratio: number): string {
  return Number.isFinite(ratio) ? `${ratio.toFixed(2)}×` : 'n/a';
}

export function fmtMb(bytes: number): string {
  return `${(bytes / 2 ** 20).toFixed(0)} MB`;
}

export function table(rows: string[][]): string {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  const line = (r: string[]) => r.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]) : cell.padStart(widths[i]))).join('   ');
  return [line(rows[0]), widths.map((w) => '-'.repeat(w)).join('   '), ...rows.slice(1).map(line)].join('\n');
}

export function statuses(summary: LoadSummary): string {
  const entries = Object.entries(summary.statuses ?? {});
  return entries.length ? entries.map(([status, n]) => `${n}×${status}`).join(' ') : '0';
}

/** The header lines every benchmark prints: the machine and the software on it. */
export function machine(serverVersion: string): string[] {
  const cpus = os.cpus();
  return [
    `machine: ${cpus.length} CPUs (${cpus[0]?.model.trim() ?? 'unknown'}), ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB, ${os.platform()} ${os.arch()}, load average ${os.loadavg()[0].toFixed(1)} at the end`,
    `node ${process.version}, ${serverVersion}; servers, database and load generator (autocannon) share this machine`,
  ];
}

export function target(label: string, value: string, ok: boolean): string {
  return `  ${label.padEnd(58)} ${value.padStart(10)}  ${ok ? 'PASS' : 'MISS'}`;
}

// --- load generator (child process) -------------------------------------------------------------

export class LoadGenerator {
  private next = 0;
  private pending = new Map<number, { resolve(s: LoadSummary): void; reject(e: Error): void; progress?(s: LoadSummary): void }>();

  private constructor(private readonly child: ChildProcess) {
    child.on('message', (reply: LoadReply | LoadProgress) => {
      const waiter = this.pending.get(reply.id);
      if (!waiter) return;
      if (reply.type === 'progress') return waiter.progress?.(reply.summary);
      this.pending.delete(reply.id);
      if (reply.type === 'result') waiter.resolve(reply.summary);
      else waiter.reject(new Error(`load generator: ${reply.message}`));
    });
    child.on('exit', (code) => {
      for (const waiter of this.pending.values()) waiter.reject(new Error(`load generator exited (${code})`));
      this.pending.clear();
    });
  }

  /** `threads`: libuv's thread pool of the child (argon2 runs there), at least its default 4. */
  static start(options: { threads?: number } = {}): LoadGenerator {
    const child = fork(fileURLToPath(new URL('./load.ts', import.meta.url)), [], {
      cwd: ROOT,
      execArgv: ['--import', 'tsx'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      env: { ...process.env, UV_THREADPOOL_SIZE: String(Math.max(4, options.threads ?? 4)) },
    });
    return new LoadGenerator(child);
  }

  run(job: LoadJob | HashJob, progress?: (s: LoadSummary) => void): Promise<LoadSummary> {
    const id = this.next++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject, progress });
      this.child.send({ type: 'job', id, job } satisfies LoadMessage);
    });
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise((resolve) => this.child.once('exit', resolve));
    if (this.child.connected) this.child.send({ type: 'exit' } satisfies LoadMessage);
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 3000);
    await exited;
    clearTimeout(timer);
  }
}

// --- the server process around a run ------------------------------------------------------------

/** What the server process spent during a run (only the server under load is busy in it). */
export interface ServerUsage {
  /** CPU time (user + system, all threads) of this process per 2xx response, in milliseconds. */
  cpuPerRequestMs: number;
  /** Event-loop utilisation over the run (1 = the main thread never idle). */
  elu: number;
  /** Share of the machine's CPU time stolen by the hypervisor during the run (Linux), or undefined. */
  steal?: number;
  /** Event-loop delay of the server process, milliseconds. */
  loopDelayP99: number;
  loopDelayMax: number;
  gcTotalMs: number;
  gcMaxMs: number;
  /** Largest resident set size sampled during the run, bytes. */
  rssMax: number;
}

export interface Run<T = LoadSummary> {
  load: T;
  server: ServerUsage;
}

async function cpuTimes(): Promise<{ total: number; steal: number } | undefined> {
  try {
    const line = (await readFile('/proc/stat', 'utf8')).split('\n').find((l) => l.startsWith('cpu '));
    const fields = (line ?? '').trim().split(/\s+/).slice(1, 9).map(Number);
    if (fields.length < 8 || fields.some((n) => !Number.isFinite(n))) return undefined;
    return { total: fields.reduce((a, b) => a + b, 0), steal: fields[7] };
  } catch {
    return undefined;
  }
}

/**
 * Runs `work` (load on a server in this process) and measures this process meanwhile: CPU,
 * event-loop utilisation and delay, GC pauses, the largest RSS. `ok` is the number of answered
 * requests the CPU time is divided by.
 */
export async function observed<T>(work: () => Promise<T>, ok: (result: T) => number): Promise<Run<T>> {
  const times = await cpuTimes();
  const delay = monitorEventLoopDelay({ resolution: 1 });
  let gcTotalMs = 0;
  let gcMaxMs = 0;
  const gc = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      gcTotalMs += entry.duration;
      gcMaxMs = Math.max(gcMaxMs, entry.duration);
    }
  });
  gc.observe({ entryTypes: ['gc'] });
  let rssMax = process.memoryUsage.rss();
  const sampler = setInterval(() => (rssMax = Math.max(rssMax, process.memoryUsage.rss())), 250);
  delay.enable();
  const cpu = process.cpuUsage();
  const elu = performance.eventLoopUtilization();
  try {
    const result = await work();
    const used = process.cpuUsage(cpu);
    const utilization = performance.eventLoopUtilization(elu).utilization;
    const after = await cpuTimes();
    return {
      load: result,
      server: {
        cpuPerRequestMs: (used.user + used.system) / 1000 / Math.max(1, ok(result)),
        elu: utilization,
        steal: times && after && after.total > times.total ? (after.steal - times.steal) / (after.total - times.total) : undefined,
        loopDelayP99: delay.percentile(99) / 1e6,
        loopDelayMax: delay.max / 1e6,
        gcTotalMs,
        gcMaxMs,
        rssMax: Math.max(rssMax, process.memoryUsage.rss()),
      },
    };
  } finally {
    clearInterval(sampler);
    delay.disable();
    gc.disconnect();
  }
}

export function describe(run: Run): string {
  const { load, server } = run;
  return (
    `${fmtRate(load.rps)}/s, p50 ${fmtMs(load.p50)}, p90 ${fmtMs(load.p90)}, p99 ${fmtMs(load.p99)}, max ${fmtMs(load.max)}, non-2xx ${statuses(load)}; ` +
    `server CPU ${server.cpuPerRequestMs.toFixed(3)} ms/req, event loop ${(server.elu * 100).toFixed(0)}% busy, ` +
    `delay p99 ${fmtMs(server.loopDelayP99)} max ${fmtMs(server.loopDelayMax)}; GC ${fmtMs(server.gcTotalMs)} (longest ${fmtMs(server.gcMaxMs)}); ` +
    `RSS up to ${fmtMb(server.rssMax)}; load generator CPU ${load.clientCpuPerRequestMs.toFixed(3)} ms/req` +
    (server.steal !== undefined ? `; CPU steal ${(server.steal * 100).toFixed(0)}%` : '')
  );
}

export function stealLine(runs: Run<unknown>[]): string[] {
  const steals = runs.map((r) => r.server.steal).filter((v): v is number => v !== undefined);
  if (steals.length === 0) return [];
  const worst = Math.max(...steals);
  return [`CPU steal (hypervisor) during the measured runs: up to ${(worst * 100).toFixed(0)}%` + (worst > 0.05 ? ': a shared machine, expect noisy figures' : '')];
}

// --- Mauth --------------------------------------------------------------------------------------

export interface MauthOptions {
  /** A PostgreSQL database, or the embedded one in this folder. */
  database: { uri: string } | { embedded_path: string };
  /** `matrix.endpoint`: the homeserver stand-in; a closed port when the benchmark needs none. */
  homeserverUrl?: string;
  /** Listener resources beside `oauth` and `health`. */
  resources?: string[];
  poolSize?: number;
  /** More configuration, merged over the rest section by section. */
  extra?: Record<string, unknown>;
  /** Runs the job worker in the process (a deployment's default); off unless asked. */
  worker?: boolean;
  migrate?: boolean;
  /** `matrix.secret`; random when absent. */
  secret?: string;
}

export interface BenchMauth {
  url: string;
  secret: string;
  config: Config;
  server: RunningServer;
  /** The configuration files it was started with (generated, then the benchmark's overrides). */
  configFiles: string[];
}

/**
 * Mauth in this process: `generateConfig()` plus the overrides,
 * one listener on 127.0.0.1 (a port picked beforehand so that `public_base` names it: browser
 * flows follow absolute redirects), a pino logger at `warn`, a random `matrix.secret`. Login rate
 * limits are raised out of the way: every request comes from 127.0.0.1.
 */
export async function startMauth(options: MauthOptions, cleanups: Cleanups): Promise<BenchMauth> {
  const dir = await mkdtemp(join(os.tmpdir(), 'mauth-bench-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  const secret = options.secret ?? randomBytes(24).toString('base64url');
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const base = join(dir, 'base.yaml');
  const local = join(dir, 'bench.yaml');
  const uri = 'uri' in options.database ? options.database.uri : undefined;
  await writeFile(base, await generateConfig({ embedded: uri === undefined, databaseUri: uri, homeserver: 'bench.localhost' }), { mode: 0o600 });
  const { extra = {} } = options;
  const unlimited = { burst: 1_000_000, per_second: 1_000_000 };
  const overrides: Record<string, unknown> = {
    http: {
      public_base: `${url}/`,
      issuer: `${url}/`,
      listeners: [{ name: 'bench', resources: ['oauth', 'health', ...(options.resources ?? [])].map((name) => ({ name })), binds: [{ host: '127.0.0.1', port }] }],
    },
    database: { ...options.database, max_connections: options.poolSize ?? 10 },
    matrix: { kind: 'synapse', homeserver: 'bench.localhost', secret, endpoint: options.homeserverUrl ?? 'http://127.0.0.1:9/' },
    rate_limiting: { login: { per_ip: unlimited, per_account: unlimited } },
  };
  for (const [key, value] of Object.entries(extra)) {
    const current = overrides[key];
    overrides[key] =
      current && typeof current === 'object' && value && typeof value === 'object' ? { ...(current as object), ...(value as object) } : value;
  }
  await writeFile(local, YAML.stringify(overrides), { mode: 0o600 });
  const config = await loadConfig({ files: [base, local], env: {} });
  const server = await startServer(config, {
    migrate: options.migrate ?? false,
    worker: options.worker ?? false,
    log: pino({ level: 'warn', base: { service: 'mauth' } }),
  });
  cleanups.push(() => server.close());
  return { url, secret, config, server, configFiles: [base, local] };
}

// --- Mauth as operators run it (a child process) -------------------------------------------------

export interface MauthProcess {
  url: string;
  pid: number;
  /** Resident set size of the process (VmRSS of /proc/<pid>/status), bytes; undefined off Linux. */
  rss(): Promise<number | undefined>;
  stop(): Promise<void>;
}

/** VmRSS of a process from /proc/<pid>/status, bytes; undefined where there is no /proc. */
export async function processRss(pid: number): Promise<number | undefined> {
  try {
    const status = await readFile(`/proc/${pid}/status`, 'utf8');
    const kb = /^VmRSS:\s+(\d+)\s+kB/m.exec(status)?.[1];
    return kb === undefined ? undefined : Number(kb) * 1024;
  } catch {
    return undefined;
  }
}

let built: Promise<void> | undefined;

/** `npm run build` once per benchmark run: bin/mauth.js loads the compiled CLI from dist/. */
function buildOnce(): Promise<void> {
  built ??= (async () => {
    log('npm run build (bin/mauth.js runs dist/)');
    await new Promise<void>((resolve, reject) => {
      execFile('npm', ['run', 'build'], { cwd: ROOT }, (err, _stdout, stderr) => (err ? reject(new Error(`npm run build failed: ${stderr || err.message}`)) : resolve()));
    });
  })();
  return built;
}

/**
 * Mauth as operators run it: compiled (`npm run build`), `node bin/mauth.js server` in a child
 * process, with the configuration files of `mauth` (same database, secret, limits and pool) and a
 * listener of its own; migrations (already applied) and the job worker as the command runs them
 * by default. Logs at `warn`, as the in-process server. `env` is added to the child's environment
 * (e.g. glibc's MALLOC_ARENA_MAX). Resolves once /health answers 200.
 */
export async function startMauthProcess(mauth: BenchMauth, options: { env?: Record<string, string> }, cleanups: Cleanups): Promise<MauthProcess> {
  await buildOnce();
  const dir = await mkdtemp(join(os.tmpdir(), 'mauth-bench-process-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const listener = mauth.config.http.listeners[0];
  const own = join(dir, 'process.yaml');
  await writeFile(
    own,
    YAML.stringify({ http: { public_base: `${url}/`, issuer: `${url}/`, listeners: [{ name: listener.name, resources: listener.resources.map((r) => ({ name: r.name })), binds: [{ host: '127.0.0.1', port }] }] } }),
    { mode: 0o600 },
  );
  const args = [join(ROOT, 'bin/mauth.js'), ...[...mauth.configFiles, own].flatMap((f) => ['-c', f]), 'server'];
  const child = spawn(process.execPath, args, {
    cwd: dir,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, NODE_OPTIONS: '', MAUTH_LOG_LEVEL: 'warn', MAUTH_LOG_FORMAT: 'json', ...options.env },
  });
  let output = '';
  const keep = (d: Buffer) => (output = (output + d.toString()).slice(-4000));
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  };
  cleanups.push(stop);
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`mauth server exited (${child.exitCode ?? child.signalCode}) before it was healthy:\n${output}`);
    const ok = await fetch(`${url}/health`, { signal: AbortSignal.timeout(2000) }).then((r) => r.ok, () => false);
    if (ok) break;
    if (Date.now() > deadline) throw new Error(`mauth server did not become healthy within 60 s:\n${output}`);
    await new Promise((r) => setTimeout(r, 200));
  }
  return { url, pid: child.pid!, rss: () => processRss(child.pid!), stop };
}

/**
 * A fresh PostgreSQL database (dropped at the end) holding `count` stored access tokens of the
 * bench user (fixtures.ts `seed`), valid for `lifetimeSeconds`.
 */
export async function seededDatabase(count: number, cleanups: Cleanups, lifetimeSeconds?: number): Promise<{ db: BenchDatabase; tokens: string[] }> {
  const db = await createBenchDatabase();
  cleanups.push(() => db.drop());
  log(`database ${db.name}: migrating and storing ${count} access tokens`);
  const { tokens } = await seed(db.url, count, lifetimeSeconds);
  return { db, tokens };
}

// --- homeserver stand-in (child process) --------------------------------------------------------

/**
 * Synapse's side of the `/_synapse/mas/*` calls that logins and token exchanges make
 * (bench/homeserver-stub.ts), in a child process: it answers at once, keeps nothing, and costs
 * the measured process nothing (Synapse is another process too).
 */
export async function startHomeserverStub(cleanups: Cleanups): Promise<string> {
  const child = fork(fileURLToPath(new URL('./homeserver-stub.ts', import.meta.url)), [], {
    cwd: ROOT,
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  cleanups.push(async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await exited;
  });
  const port = await new Promise<number>((resolve, reject) => {
    child.once('message', (m: { port: number }) => resolve(m.port));
    child.once('exit', (code) => reject(new Error(`homeserver stand-in exited (${code})`)));
  });
  return `http://127.0.0.1:${port}/`;
}

// --- introspection ------------------------------------------------------------------------------

function introspectionHeaders(secret: string): Record<string, string> {
  return {
    'content-type': 'application/x-www-form-urlencoded',
    authorization: `Bearer ${secret}`,
    'x-mas-supports-device-id': '1',
  };
}

/** One introspection request per token, rotated over the connections (each takes every n-th). */
export function introspectionRequests(secret: string, tokens: string[]): LoadRequest[] {
  return tokens.map((token) => ({ method: 'POST', path: ROUTES.introspection, headers: introspectionHeaders(secret), body: new URLSearchParams({ token }).toString() }));
}

export async function introspect(url: string, secret: string, token: string): Promise<Record<string, unknown>> {
  const res = await fetch(`${url}${ROUTES.introspection}`, {
    method: 'POST',
    headers: introspectionHeaders(secret),
    body: new URLSearchParams({ token }).toString(),
  });
  const text = await res.text();
  if (res.status !== 200) throw new Error(`introspection at ${url} answered ${res.status}: ${text}`);
  return JSON.parse(text) as Record<string, unknown>;
}

/** The first field in which two answers differ (expiry times within 2 s are the same). */
function sameAnswer(a: Record<string, unknown>, b: Record<string, unknown>, ignore: string[] = []): string | undefined {
  const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])].filter((k) => !ignore.includes(k));
  for (const key of keys) {
    if ((key === 'expires_in' || key === 'exp' || key === 'iat') && Math.abs(Number(a[key]) - Number(b[key])) <= 2) continue;
    if (JSON.stringify(a[key]) !== JSON.stringify(b[key])) return `${key}: ${JSON.stringify(a[key])} vs ${JSON.stringify(b[key])}`;
  }
  return undefined;
}

/**
 * The bare introspection server (bench/baseline.ts) on `database`, once every server of `mauths`
 * has answered `token` (a stored token of fixtures.ts) active, as its user and device, and as
 * the baseline does, twice in a row (the second answer may come from Mauth's cache).
 */
export async function startIntrospectionFloor(
  database: Config['database'],
  secret: string,
  token: string,
  mauths: { name: string; url: string }[],
  cleanups: Cleanups,
): Promise<BaselineServer> {
  const baseline = await startBaseline({ database, secret, path: ROUTES.introspection });
  cleanups.push(() => baseline.close());
  const floor = await introspect(baseline.url, secret, token);
  for (const { name, url } of mauths) {
    for (const attempt of ['first', 'second']) {
      const answer = await introspect(url, secret, token);
      if (answer.active !== true || answer.username !== BENCH_USERNAME || answer.device_id !== BENCH_DEVICE) {
        throw new Error(`${name}: unexpected ${attempt} answer: ${JSON.stringify(answer)}`);
      }
      const difference = sameAnswer(answer, floor);
      if (difference) throw new Error(`${name} and the baseline answer differently (${attempt} answer; ${difference})`);
    }
  }
  return baseline;
}

// --- running a benchmark ------------------------------------------------------------------------

export type Cleanups = (() => Promise<void>)[];

/**
 * Runs `main` with a list of clean-ups that run in reverse order at the end, after an error and
 * on Ctrl-C (the benchmark databases are dropped, children stopped). A failure sets exit code 1.
 */
export function runBenchmark(main: (cleanups: Cleanups) => Promise<void>): void {
  const cleanups: Cleanups = [];
  let cleaning: Promise<void> | undefined;
  const cleanup = () =>
    (cleaning ??= (async () => {
      for (const fn of cleanups.reverse()) {
        try {
          await fn();
        } catch (err) {
          log(`cleanup: ${(err as Error).message}`);
        }
      }
    })());
  const onSignal = () => {
    log('interrupted: cleaning up');
    void cleanup().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  main(cleanups)
    .catch((err: unknown) => {
      process.stderr.write(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
      process.exitCode = 1;
    })
    .finally(async () => {
      await cleanup();
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    });
}

// --- warm-up, peak and half peak, interleaved ---------------------------------------------------

export interface Target {
  name: string;
  /** The job of one run (built anew each time: refresh chains move on). */
  job(run: { duration: number; rate?: number; shards?: number }): LoadJob | Promise<LoadJob>;
  /** Called with every run's summary (warm-up included), before the next run starts. */
  after?(summary: LoadSummary): Promise<void>;
}

export interface PeakHalf {
  name: string;
  peak: Run;
  half: Run;
  halfRate: number;
}

export interface PhaseSettings {
  warmup: number;
  duration: number;
  /** Staggered autocannon instances of a paced run (bench/load.ts). */
  shards: number;
}

/** Connections and phases of the warm-up, peak and half-peak benchmarks, from the environment. */
export function phaseSettings(): PhaseSettings & { connections: number } {
  return {
    connections: envNumber('BENCH_CONNECTIONS', 50),
    warmup: envNumber('BENCH_WARMUP', 3),
    duration: envNumber('BENCH_DURATION', 10),
    shards: envNumber('BENCH_SHARDS', 50),
  };
}

/**
 * The introspection benchmarks (PostgreSQL and embedded): every server of `mauths`, then the bare
 * introspection server on the same database (checked to answer as each does), rotating over the
 * stored `tokens`, warm-up, peak and half peak interleaved. The baseline's results come last.
 */
export async function measureIntrospection(
  mauths: { name: string; url: string }[],
  options: { database: Config['database']; secret: string; tokens: string[]; settings: PhaseSettings & { connections: number } },
  cleanups: Cleanups,
): Promise<PeakHalf[]> {
  const { database, secret, tokens, settings } = options;
  const baseline = await startIntrospectionFloor(database, secret, tokens[0], mauths, cleanups);
  const load = LoadGenerator.start();
  cleanups.push(() => load.stop());
  const requests = introspectionRequests(secret, tokens);
  const targets: Target[] = [...mauths, { name: 'baseline', url: baseline.url }].map(({ name, url }) => ({
    name,
    job: (run) => ({ url: `${url}${ROUTES.introspection}`, connections: settings.connections, requests, ...run }),
  }));
  return peakAndHalf(load, targets, settings);
}

async function runTarget(load: LoadGenerator, target: Target, run: { duration: number; rate?: number; shards?: number }): Promise<Run> {
  const job = await target.job(run);
  const result = await observed(() => load.run(job), (s) => s.ok);
  await target.after?.(result.load);
  return result;
}

/**
 * Warm-up of each target, then the peak of each (unpaced), then each at half of its own peak
 * (paced, staggered), so the runs compared are close in time: on a shared machine the capacity
 * drifts.
 */
export async function peakAndHalf(load: LoadGenerator, targets: Target[], settings: PhaseSettings): Promise<PeakHalf[]> {
  for (const target of targets) {
    log(`${target.name}: warm-up ${settings.warmup} s`);
    await runTarget(load, target, { duration: settings.warmup });
  }
  const peaks: Run[] = [];
  for (const target of targets) {
    log(`${target.name}: peak, ${settings.duration} s`);
    const peak = await runTarget(load, target, { duration: settings.duration });
    log(`${target.name}:   ${describe(peak)}`);
    peaks.push(peak);
  }
  const results: PeakHalf[] = [];
  for (const [i, target] of targets.entries()) {
    const peak = peaks[i];
    const halfRate = Math.max(1, Math.round(peak.load.rps / 2));
    log(`${target.name}: half peak, ${settings.duration} s at ${halfRate}/s`);
    const half = await runTarget(load, target, { duration: settings.duration, rate: halfRate, shards: settings.shards });
    log(`${target.name}:   ${describe(half)}`);
    results.push({ name: target.name, peak, half, halfRate });
  }
  return results;
}

function peakHalfTable(results: PeakHalf[], unit: string): string {
  return table([
    ['', `peak ${unit}/s`, 'p50 @peak', 'p99 @peak', 'CPU/req', 'half rate', 'achieved', 'p50 @half', 'p99 @half', 'non-2xx', 'errors'],
    ...results.map((m) => [
      m.name,
      fmtRate(m.peak.load.rps),
      fmtMs(m.peak.load.p50),
      fmtMs(m.peak.load.p99),
      fmtMs(m.peak.server.cpuPerRequestMs),
      `${m.halfRate}/s`,
      `${fmtRate(m.half.load.rps)}/s`,
      fmtMs(m.half.load.p50),
      fmtMs(m.half.load.p99),
      String(m.peak.load.non2xx + m.half.load.non2xx),
      String(m.peak.load.errors + m.peak.load.timeouts + m.half.load.errors + m.half.load.timeouts),
    ]),
  ]);
}

/**
 * The output of a warm-up, peak and half-peak benchmark: title, machine and settings, the table,
 * what it found, its targets, notes, CPU steal and a warning about non-2xx answers.
 */
export function peakHalfReport(report: {
  title: string;
  /** The database's name and version, for the machine lines. */
  software: string;
  /** Lines on the settings, indented under the machine. */
  about: string[];
  started: number;
  results: PeakHalf[];
  /** What the requests are, in the table's heading (`req`, `refreshes`) and in the CPU note (`request`, `refresh`). */
  unit: string;
  each: string;
  findings: string[];
  targets: string[];
  notes?: string[];
}): string {
  const { results } = report;
  const non2xx = results.reduce((n, m) => n + m.peak.load.non2xx + m.half.load.non2xx, 0);
  return [
    '',
    report.title,
    ...[...machine(report.software), ...report.about, `latencies over 2xx responses, client side; run took ${Math.round((Date.now() - report.started) / 1000)} s`].map((l) => `  ${l}`),
    '',
    peakHalfTable(results, report.unit),
    `  CPU/req: CPU time of the server process per answered ${report.each} during the peak run`,
    '',
    ...report.findings,
    '',
    'Targets',
    ...report.targets,
    '',
    ...(report.notes ?? []),
    ...stealLine(results.flatMap((r) => [r.peak, r.half])),
    ...(non2xx > 0 ? [`WARNING: ${non2xx} non-2xx responses during the measured runs (see table)`] : []),
    '',
  ].join('\n');
}
