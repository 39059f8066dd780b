// `mauth doctor`: checks a running deployment from the point of view of this configuration and
// prints one line per finding, ✅ fine, ⚠️ worth a look, ❌ broken, each of the last two with a
// hint. It exits 1 when a ❌ was printed. Every check is bounded by `--timeout`, so a stalled
// database or homeserver gives a ❌ instead of a hang. The checks themselves are in
// doctor-checks.ts (DOCTOR_CHECKS, the list to add to).
import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';
import { checkConfig, formatProblem } from '../config/load.js';
import type { Config } from '../config/types.js';
import { connect, ping, type Database, type Sql } from '../storage/db.js';
import { DOCTOR_CHECKS } from './doctor-checks.js';
import { configFiles } from './options.js';

export type Status = 'ok' | 'warn' | 'fail';

export interface Finding {
  status: Status;
  message: string;
  /** What to look at; printed under ⚠️ and ❌ lines. */
  hint?: string;
}

/** How far another clock is from this host's, as seen by a check that talked to it. */
export interface ClockReading {
  source: string;
  skewMs: number;
  /** How much of the skew the measurement itself cannot tell apart from none. */
  uncertaintyMs: number;
}

export interface DoctorContext {
  config: Config;
  timeoutMs: number;
  /** The database, opened once without migrating; rejects with what stopped it. */
  database(): Promise<Sql>;
  /** fetch with the doctor's timeout and no redirects; records the answer's Date header under `clockSource`. */
  fetch(url: string | URL, clockSource?: string): Promise<Response>;
  clockReadings: ClockReading[];
  /** Results of one check that others build on (the discovery document), by name. */
  shared: Map<string, Promise<unknown>>;
}

export interface DoctorCheck {
  /** Printed when the check throws or runs out of time. */
  name: string;
  run(ctx: DoctorContext): Promise<Finding | Finding[]>;
}

const ICONS: Record<Status, string> = { ok: '✅', warn: '⚠️ ', fail: '❌' };

export function formatFinding(finding: Finding): string {
  const line = `${ICONS[finding.status]} ${finding.message}`;
  return finding.status !== 'ok' && finding.hint ? `${line}\n   hint: ${finding.hint}` : line;
}

function seconds(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0 || n > 600) throw new InvalidArgumentError('must be a number of seconds between 0 and 600');
  return n;
}

/** Loads the configuration as `config check` does, as findings. */
async function loadFindings(cmd: Command): Promise<{ config?: Config; findings: Finding[] }> {
  const result = await checkConfig({ files: configFiles(cmd), env: process.env });
  if (result.files.length === 0) {
    const hint = 'pass -c <file>, set MAUTH_CONFIG (or MAS_CONFIG), or run doctor where ./config.yaml is; use the files the server runs with';
    return { findings: [{ status: 'fail', message: 'configuration: no configuration file', hint }] };
  }
  const findings: Finding[] = [
    ...result.errors.map((problem): Finding => ({ status: 'fail', message: `configuration: ${formatProblem(problem)}`, hint: 'mauth config check lists every problem' })),
    ...result.warnings.map((problem): Finding => ({ status: 'warn', message: `configuration: ${formatProblem(problem)}`, hint: 'mauth config check lists every warning' })),
  ];
  if (result.config) findings.unshift({ status: 'ok', message: `configuration loads from ${result.files.join(', ')}` });
  return { config: result.config, findings };
}

/** How long doctor waits for what the checks left open before it exits. */
const EXIT_GRACE_MS = 2000;

class TimedOut extends Error {
  override readonly name = 'TimedOut';
}

function withTimeout<T>(work: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new TimedOut(`no answer within ${ms / 1000} s`)), ms);
  });
  return Promise.race([work, late]).finally(() => clearTimeout(timer));
}

function createContext(config: Config, timeoutMs: number): { ctx: DoctorContext; close(): Promise<void> } {
  // The pool and its first round trip apart: a database that takes the connection and never
  // answers leaves the round trip pending for ever (connect_timeout 0) or a long while, and the
  // pool must still be closed once the checks are over.
  let connected: Promise<Database> | undefined;
  let reached: Promise<Sql> | undefined;
  const ctx: DoctorContext = {
    config,
    timeoutMs,
    clockReadings: [],
    shared: new Map(),
    database() {
      connected ??= connect(config.database);
      reached ??= connected.then(async (db) => {
        try {
          await ping(db.sql);
        } catch (err) {
          throw new Error(`cannot connect to the database: ${(err as Error).message}`, { cause: err });
        }
        return db.sql;
      });
      return reached;
    },
    async fetch(url, clockSource) {
      const started = Date.now();
      const response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs), redirect: 'manual', headers: { accept: 'application/json' } });
      const ended = Date.now();
      const date = Date.parse(response.headers.get('date') ?? '');
      // A Date header has whole seconds: the other clock read somewhere in [date, date + 1 s).
      if (clockSource && Number.isFinite(date)) {
        ctx.clockReadings.push({ source: clockSource, skewMs: date + 500 - (started + ended) / 2, uncertaintyMs: 500 + (ended - started) / 2 });
      }
      return response;
    },
  };
  return {
    ctx,
    async close() {
      const db = await connected?.catch(() => undefined);
      if (db) await withTimeout(db.close(), 2000).catch(() => {});
    },
  };
}

/** Runs every check in order, handing each finding to `print` as it comes. */
export async function runDoctor(config: Config, checks: readonly DoctorCheck[], timeoutMs: number, print: (finding: Finding) => void): Promise<void> {
  const { ctx, close } = createContext(config, timeoutMs);
  try {
    for (const check of checks) {
      let findings: Finding[];
      try {
        const result = await withTimeout(check.run(ctx), timeoutMs);
        findings = Array.isArray(result) ? result : [result];
      } catch (err) {
        const hint =
          err instanceof TimedOut
            ? 'what it talks to is stalled or unreachable without an error; --timeout gives it longer'
            : 'the check could not finish; the message says where it stopped';
        findings = [{ status: 'fail', message: `${check.name}: ${(err as Error).message}`, hint }];
      }
      findings.forEach(print);
    }
  } finally {
    await close();
  }
}

export function registerDoctorCommand(program: Command): void {
  program
    .command('doctor')
    .description('Check the deployment (configuration, database, public URL, homeserver, mail, keys, clock) with the configuration the server runs with; exits 1 on a ❌')
    .option('--timeout <seconds>', 'how long each check may take', seconds, 10)
    .action(async (opts: { timeout: number }, cmd: Command) => {
      const print = (finding: Finding) => process.stdout.write(`${formatFinding(finding)}\n`);
      const counts: Record<Status, number> = { ok: 0, warn: 0, fail: 0 };
      const count = (finding: Finding) => {
        counts[finding.status] += 1;
        print(finding);
      };
      const { config, findings } = await loadFindings(cmd);
      findings.forEach(count);
      if (config) await runDoctor(config, DOCTOR_CHECKS, opts.timeout * 1000, count);
      process.stderr.write(`doctor: ${counts.ok} fine, ${counts.warn} to look at, ${counts.fail} broken\n`);
      process.exitCode = counts.fail > 0 ? 1 : 0;
      // A check cut at its timeout may leave a socket behind (an SMTP server that never greets,
      // a database closing slowly): doctor has said everything, so it ends shortly after anyway.
      setTimeout(() => process.exit(), EXIT_GRACE_MS).unref();
    });
}
