// Runs Mauth's server inside the test process, on a clock the test moves: black-box tests of
// expiries speak HTTP to it as a client would, and jump over lifetimes instead of sleeping. The
// database and configuration are made as for the child-process server (mauth-process.ts), and
// the CLI still runs as a child process.
import { Writable } from 'node:stream';
import pino from 'pino';
import postgres from 'postgres';
import { systemRandomness, type Clock } from '../../src/clock.js';
import { loadConfig } from '../../src/config/load.js';
import { PasswordHasher } from '../../src/accounts/passwords.js';
import { startServer, type RunningServer, type ServerOptions } from '../../src/http/server.js';
import { JOBS_CHANNEL } from '../../src/storage/jobs.js';
import { createMauth, type MauthInstance } from './mauth-process.js';

/**
 * The server's clock: real time plus however far the test moved it. It never runs behind real
 * time, because the server also keeps times it cannot take from an injected clock (PostgreSQL's
 * column defaults, oidc-provider's own expiries, job leases); with this clock those stay in the
 * past of Mauth's "now", as they do in production.
 */
export class MovableClock implements Clock {
  #offsetMs = 0;

  now(): Date {
    return new Date(Date.now() + this.#offsetMs);
  }

  advance(seconds: number): void {
    if (seconds < 0) throw new RangeError('the clock only moves forward');
    this.#offsetMs += seconds * 1000;
  }
}

export interface InProcessMauth extends Pick<MauthInstance, 'url' | 'configFiles' | 'databaseUrl' | 'secret' | 'cli'> {
  clock: MovableClock;
  /** Where the running server hashes passwords (a test can fill its pool). */
  readonly hasher: PasswordHasher;
  /**
   * Moves the clock forward and wakes the job worker and the idle-session sweep, as waiting that
   * long would have; resolves once that sweep is done.
   */
  advance(seconds: number): Promise<void>;
  /** Resolves once no job is pending or running (retries scheduled later count as pending). */
  jobsSettled(timeoutMs?: number): Promise<void>;
  start(): Promise<void>;
  stop(): Promise<void>;
  /** The server's log lines (JSON) so far. */
  output(): string;
  drop(): Promise<void>;
}

/**
 * `server`: options of the server itself; `worker: false` runs no job worker (whose queries
 * would mix with a request's), `onQuery` sees every statement its pool sends.
 */
export async function createInProcessMauth(
  options: Parameters<typeof createMauth>[0],
  server: Pick<ServerOptions, 'worker' | 'onQuery'> = { worker: true },
): Promise<InProcessMauth> {
  if (process.env.MAUTH_TEST_DATABASE === 'embedded') {
    // The embedded database serves one process; the CLI the tests run would need it too.
    throw new Error('in-process tests need PostgreSQL (MAUTH_TEST_DATABASE=embedded is not supported)');
  }
  const instance = await createMauth(options);
  const clock = new MovableClock();
  const sql = postgres(instance.databaseUrl, { max: 1, onnotice: () => {} });
  let running: RunningServer | undefined;
  let hasher: PasswordHasher | undefined;
  let output = '';
  const log = pino(
    { level: 'info', base: { service: 'mauth' } },
    new Writable({
      write(chunk, _encoding, done) {
        output += String(chunk);
        done();
      },
    }),
  );

  const { url, configFiles, databaseUrl, secret, cli } = instance;
  return {
    url,
    configFiles,
    databaseUrl,
    secret,
    cli,
    clock,
    get hasher() {
      if (!hasher) throw new Error('the server has not started');
      return hasher;
    },
    async advance(seconds) {
      clock.advance(seconds);
      await sql`SELECT pg_notify(${JOBS_CHANNEL}, 'clock moved')`;
      await running?.sweepNow();
    },
    async jobsSettled(timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const [{ open }] = await sql<{ open: number }[]>`SELECT count(*)::int AS open FROM jobs WHERE status IN ('pending', 'running')`;
        if (open === 0) return;
        if (Date.now() > deadline) throw new Error(`${open} jobs still open after ${timeoutMs} ms`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    async start() {
      const config = await loadConfig({ files: instance.configFiles, env: {} });
      hasher = new PasswordHasher(config.passwords);
      running = await startServer(config, { migrate: true, worker: server.worker, onQuery: server.onQuery, log, clock, random: systemRandomness, hasher });
    },
    async stop() {
      await running?.close();
      running = undefined;
    },
    output: () => output,
    async drop() {
      await sql.end();
      await instance.drop();
    },
  };
}
