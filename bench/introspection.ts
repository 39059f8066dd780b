// `npm run bench`: token introspection throughput and latency of Mauth against real PostgreSQL,
// next to a baseline (a bare node:http server doing the same lookup), measured in the same run.
// See bench/README.md for what is measured and how.
import { fork, type ChildProcess } from 'node:child_process';
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
import { startBaseline, type BaselineServer } from './baseline.js';
import { BENCH_DEVICE, BENCH_USERNAME, createBenchDatabase, seed, type BenchDatabase } from './fixtures.js';
import type { LoadJob, LoadMessage, LoadReply, LoadRequest, LoadSummary } from './load.js';

const ROOT = fileURLToPath(new URL('../', import.meta.url));

function envNumber(name: string, fallback: number): number {
  const value = Number(process.env[name]);
  return Number.isFinite(value) && value > 0 ? value : fallback;
}

const SETTINGS = {
  tokens: envNumber('BENCH_TOKENS', 1000),
  connections: envNumber('BENCH_CONNECTIONS', 50),
  warmup: envNumber('BENCH_WARMUP', 3),
  duration: envNumber('BENCH_DURATION', 10),
  /** autocannon instances, staggered across a second, for the half-peak run (see bench/load.ts). */
  shards: envNumber('BENCH_SHARDS', 50),
  poolSize: 10,
};

// Issue 15: at least the floor, with an answer cache (src/oidc/introspection-cache.ts).
const TARGETS = { ratio: 1.0, halfPeakP99Ms: 5 };

// --- load generator (child process) -------------------------------------------------------------

class LoadGenerator {
  private next = 0;
  private pending = new Map<number, { resolve(s: LoadSummary): void; reject(e: Error): void }>();

  private constructor(private readonly child: ChildProcess) {
    child.on('message', (reply: LoadReply) => {
      const waiter = this.pending.get(reply.id);
      if (!waiter) return;
      this.pending.delete(reply.id);
      if (reply.type === 'result') waiter.resolve(reply.summary);
      else waiter.reject(new Error(`load generator: ${reply.message}`));
    });
    child.on('exit', (code) => {
      for (const waiter of this.pending.values()) waiter.reject(new Error(`load generator exited (${code})`));
      this.pending.clear();
    });
  }

  static start(): LoadGenerator {
    const child = fork(fileURLToPath(new URL('./load.ts', import.meta.url)), [], {
      cwd: ROOT,
      execArgv: ['--import', 'tsx'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    return new LoadGenerator(child);
  }

  run(job: LoadJob): Promise<LoadSummary> {
    const id = this.next++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
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

// --- servers ------------------------------------------------------------------------------------

async function mauthConfig(databaseUrl: string, secret: string, dir: string): Promise<Config> {
  const base = join(dir, 'base.yaml');
  const local = join(dir, 'bench.yaml');
  await writeFile(base, await generateConfig({ embedded: false, databaseUri: databaseUrl, homeserver: 'bench.localhost' }), { mode: 0o600 });
  await writeFile(
    local,
    YAML.stringify({
      http: {
        listeners: [
          {
            name: 'bench',
            resources: [{ name: 'oauth' }, { name: 'health' }],
            // Port 0: the system picks a free port; startServer reports it.
            binds: [{ host: '127.0.0.1', port: 0 }],
          },
        ],
      },
      database: { uri: databaseUrl, max_connections: SETTINGS.poolSize },
      matrix: { kind: 'synapse', homeserver: 'bench.localhost', secret, endpoint: 'http://127.0.0.1:9/' },
    }),
    { mode: 0o600 },
  );
  return loadConfig({ files: [base, local], env: {} });
}

function headers(secret: string): Record<string, string> {
  return {
    'content-type': 'application/x-www-form-urlencoded',
    authorization: `Bearer ${secret}`,
    'x-mas-supports-device-id': '1',
  };
}

async function introspectOnce(name: string, url: string, secret: string, token: string): Promise<Record<string, unknown>> {
  const res = await fetch(`${url}${ROUTES.introspection}`, {
    method: 'POST',
    headers: headers(secret),
    body: new URLSearchParams({ token }).toString(),
  });
  const text = await res.text();
  if (res.status !== 200) throw new Error(`${name}: introspection answered ${res.status}: ${text}`);
  const body = JSON.parse(text) as Record<string, unknown>;
  if (body.active !== true) throw new Error(`${name}: the token is not active: ${text}`);
  if (body.username !== BENCH_USERNAME || body.device_id !== BENCH_DEVICE) throw new Error(`${name}: unexpected answer: ${text}`);
  return body;
}

function sameAnswer(a: Record<string, unknown>, b: Record<string, unknown>): string | undefined {
  const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])];
  for (const key of keys) {
    if (key === 'expires_in' && Math.abs(Number(a[key]) - Number(b[key])) <= 2) continue;
    if (JSON.stringify(a[key]) !== JSON.stringify(b[key])) return `${key}: ${JSON.stringify(a[key])} vs ${JSON.stringify(b[key])}`;
  }
  return undefined;
}

// --- measurement --------------------------------------------------------------------------------

/** What the server process spent during a run: both servers live in this process and only the one under load is busy. */
interface ServerUsage {
  /** CPU time (user + system, all threads) of this process per 2xx response, in milliseconds. */
  cpuPerRequestMs: number;
  /** Event-loop utilisation over the run (1 = the main thread never idle). */
  elu: number;
  /** Share of the machine's CPU time stolen by the hypervisor during the run (Linux), or undefined. */
  steal?: number;
  /** Event-loop delay of the server process, milliseconds (p99 and max over the run). */
  loopDelayP99: number;
  loopDelayMax: number;
  /** Garbage-collection pauses of the server process: total and longest, milliseconds. */
  gcTotalMs: number;
  gcMaxMs: number;
}

interface Run {
  load: LoadSummary;
  server: ServerUsage;
}

interface Measurement {
  name: string;
  peak: Run;
  half: Run;
  halfRate: number;
}

/** Total and steal jiffies of all CPUs from /proc/stat (Linux only). */
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

async function observed(load: LoadGenerator, job: LoadJob): Promise<Run> {
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
  delay.enable();
  const cpu = process.cpuUsage();
  const elu = performance.eventLoopUtilization();
  const summary = await load.run(job);
  const used = process.cpuUsage(cpu);
  const utilization = performance.eventLoopUtilization(elu).utilization;
  delay.disable();
  gc.disconnect();
  const after = await cpuTimes();
  return {
    load: summary,
    server: {
      cpuPerRequestMs: (used.user + used.system) / 1000 / Math.max(1, summary.ok),
      elu: utilization,
      steal: times && after && after.total > times.total ? (after.steal - times.steal) / (after.total - times.total) : undefined,
      // The histogram is in nanoseconds and counts from the 1 ms sampling interval.
      loopDelayP99: delay.percentile(99) / 1e6,
      loopDelayMax: delay.max / 1e6,
      gcTotalMs,
      gcMaxMs,
    },
  };
}

interface Target {
  name: string;
  url: string;
}

/**
 * Warm-up, peak and half-peak runs of every server, interleaved phase by phase (warm-up of each,
 * then the peak of each, then half the peak of each) so that the runs compared with each other
 * are close in time: on a shared machine the capacity drifts.
 */
async function measure(load: LoadGenerator, targets: Target[], requests: LoadRequest[]): Promise<Measurement[]> {
  const job = (target: Target) => ({ url: `${target.url}${ROUTES.introspection}`, connections: SETTINGS.connections, requests });
  for (const target of targets) {
    log(`${target.name}: warm-up ${SETTINGS.warmup} s, ${SETTINGS.connections} connections`);
    await load.run({ ...job(target), duration: SETTINGS.warmup });
  }
  const peaks: Run[] = [];
  for (const target of targets) {
    log(`${target.name}: peak, ${SETTINGS.duration} s, ${SETTINGS.connections} connections`);
    const peak = await observed(load, { ...job(target), duration: SETTINGS.duration });
    log(`${target.name}:   ${describe(peak)}`);
    peaks.push(peak);
  }
  const results: Measurement[] = [];
  for (const [i, target] of targets.entries()) {
    const peak = peaks[i];
    const halfRate = Math.max(1, Math.round(peak.load.rps / 2));
    log(`${target.name}: half peak, ${SETTINGS.duration} s at ${halfRate} req/s`);
    const half = await observed(load, { ...job(target), duration: SETTINGS.duration, rate: halfRate, shards: SETTINGS.shards });
    log(`${target.name}:   ${describe(half)}`);
    results.push({ name: target.name, peak, half, halfRate });
  }
  return results;
}

// --- output -------------------------------------------------------------------------------------

function log(message: string): void {
  process.stderr.write(`[bench] ${message}\n`);
}

function fmtMs(ms: number): string {
  return Number.isFinite(ms) ? `${ms.toFixed(2)} ms` : 'n/a';
}

function describe(run: Run): string {
  const { load, server } = run;
  return (
    `${fmtRate(load.rps)} req/s, p50 ${fmtMs(load.p50)}, p90 ${fmtMs(load.p90)}, p99 ${fmtMs(load.p99)}, max ${fmtMs(load.max)}; ` +
    `server CPU ${server.cpuPerRequestMs.toFixed(3)} ms/req, event loop ${(server.elu * 100).toFixed(0)}% busy; ` +
    `event-loop delay p99 ${fmtMs(server.loopDelayP99)}, max ${fmtMs(server.loopDelayMax)}; ` +
    `GC ${fmtMs(server.gcTotalMs)} in all, longest ${fmtMs(server.gcMaxMs)}; ` +
    `load generator CPU ${load.clientCpuPerRequestMs.toFixed(3)} ms/req` +
    (server.steal !== undefined ? `; CPU steal ${(server.steal * 100).toFixed(0)}%` : '')
  );
}

function fmtRate(rps: number): string {
  return Math.round(rps).toString();
}

function table(rows: string[][]): string {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  const line = (r: string[]) => r.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]) : cell.padStart(widths[i]))).join('   ');
  return [line(rows[0]), widths.map((w) => '-'.repeat(w)).join('   '), ...rows.slice(1).map(line)].join('\n');
}

function report(results: Measurement[], machine: string[]): void {
  const [mauth, baseline] = results;
  const ratio = mauth.peak.load.rps / baseline.peak.load.rps;
  const ratioOk = ratio >= TARGETS.ratio;
  const p99Ok = mauth.half.load.p99 <= TARGETS.halfPeakP99Ms;
  const rows = [
    ['', 'peak req/s', 'p50 @peak', 'p99 @peak', 'CPU/req', 'half rate', 'achieved', 'p50 @half', 'p99 @half', 'non-2xx', 'errors'],
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
  ];
  const out = [
    '',
    'Token introspection benchmark (POST /oauth2/introspect, Bearer matrix.secret, PostgreSQL)',
    ...machine.map((l) => `  ${l}`),
    '',
    table(rows),
    '  CPU/req: CPU time of the server process per answered request during the peak run',
    '',
    `Mauth / baseline throughput: ${(ratio * 100).toFixed(1)}%`,
    '',
    'Targets',
    `  throughput >= ${TARGETS.ratio * 100}% of baseline:         ${(ratio * 100).toFixed(1)}%  ${ratioOk ? 'PASS' : 'MISS'}`,
    `  Mauth p99 <= ${TARGETS.halfPeakP99Ms} ms at half the peak rate:  ${fmtMs(mauth.half.load.p99)}  ${p99Ok ? 'PASS' : 'MISS'}`,
    '',
  ];
  const steals = results.flatMap((m) => [m.peak.server.steal, m.half.server.steal]).filter((v): v is number => v !== undefined);
  if (steals.length > 0) {
    const worst = Math.max(...steals);
    out.push(`CPU steal (hypervisor) during the measured runs: up to ${(worst * 100).toFixed(0)}%` + (worst > 0.05 ? ': a shared machine, expect noisy figures' : ''), '');
  }
  const non2xx = results.reduce((n, m) => n + m.peak.load.non2xx + m.half.load.non2xx, 0);
  if (non2xx > 0) out.push(`WARNING: ${non2xx} non-2xx responses during the measured runs (see table)`, '');
  process.stdout.write(`${out.join('\n')}\n`);
}

// --- main ---------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const started = Date.now();
  const cleanups: (() => Promise<void>)[] = [];
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

  try {
    const db: BenchDatabase = await createBenchDatabase();
    cleanups.push(() => db.drop());
    log(`database ${db.name}: migrating and storing ${SETTINGS.tokens} access tokens`);
    const { tokens } = await seed(db.url, SETTINGS.tokens);

    const secret = randomBytes(24).toString('base64url');
    const dir = await mkdtemp(join(os.tmpdir(), 'mauth-bench-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const config = await mauthConfig(db.url, secret, dir);

    log('starting Mauth (in process, no worker) and the baseline');
    const mauth: RunningServer = await startServer(config, {
      migrate: false,
      worker: false,
      log: pino({ level: 'warn', base: { service: 'mauth' } }),
    });
    cleanups.push(() => mauth.close());
    const baseline: BaselineServer = await startBaseline({ database: config.database, secret, path: ROUTES.introspection });
    cleanups.push(() => baseline.close());
    const mauthUrl = mauth.addresses[0].url;

    const a = await introspectOnce('Mauth', mauthUrl, secret, tokens[0]);
    const b = await introspectOnce('baseline', baseline.url, secret, tokens[0]);
    const difference = sameAnswer(a, b);
    if (difference) throw new Error(`Mauth and the baseline answer differently (${difference})`);

    const load = LoadGenerator.start();
    cleanups.push(() => load.stop());
    const requests: LoadRequest[] = tokens.map((token) => ({
      method: 'POST',
      path: ROUTES.introspection,
      headers: headers(secret),
      body: new URLSearchParams({ token }).toString(),
    }));

    const results = await measure(
      load,
      [
        { name: 'Mauth', url: mauthUrl },
        { name: 'baseline', url: baseline.url },
      ],
      requests,
    );

    const cpus = os.cpus();
    report(results, [
      `machine: ${cpus.length} CPUs (${cpus[0]?.model.trim() ?? 'unknown'}), ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB, ${os.platform()} ${os.arch()}`,
      `node ${process.version}, PostgreSQL ${db.serverVersion}; servers and load generator (autocannon) share this machine`,
      `${SETTINGS.tokens} tokens, ${SETTINGS.connections} connections, pool ${SETTINGS.poolSize} per server; ` +
        `warm-up ${SETTINGS.warmup} s, peak ${SETTINGS.duration} s unpaced, then ${SETTINGS.duration} s paced at half the peak ` +
        `(${SETTINGS.shards} staggered autocannon instances)`,
      `latencies over 2xx responses, client side; run took ${Math.round((Date.now() - started) / 1000)} s`,
    ]);
  } finally {
    await cleanup();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});
