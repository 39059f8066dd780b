// `mauth server --workers N`: one primary process and N workers (node:cluster) sharing the
// listeners. The primary migrates the database and syncs the configuration once, forks the
// workers, restarts one that dies (after a pause that grows while they keep dying, so a worker
// that cannot start does not loop hot), and on SIGTERM/SIGINT has every worker drain as a single
// process would. Each worker is an ordinary `mauth server` without migrations or sync: it serves
// every listener (the primary holds the sockets and hands connections round) and runs a job worker
// unless --no-worker (the jobs table is shared safely, see storage/jobs.ts).
import cluster, { type Worker as ClusterWorker } from 'node:cluster';
import { availableParallelism, constants } from 'node:os';
import type { Logger } from 'pino';
import type { Config } from '../config/types.js';
import { isEmbedded } from '../storage/db.js';
import { openDatabase } from '../storage/open.js';
import { syncAtStart } from '../upstream/sync.js';

/** The environment variable that tells a forked worker its number (1…N, kept across restarts). */
const SLOT_ENV = 'MAUTH_CLUSTER_WORKER';

/** Messages between the primary and its workers. */
type ToWorker = { mauth: 'drain' };
type ToPrimary = { mauth: 'ready' };

/** First pause before a dead worker is started again; doubled per quick death, up to the cap. */
const RESTART_MIN_MS = 1000;
const RESTART_MAX_MS = 30_000;
/** A worker that ran this long before dying starts the pauses over. */
const STABLE_AFTER_MS = 60_000;

/** `--workers`: a positive integer, or `auto` for the cores this process may use. */
export function parseWorkers(value: string): number {
  if (value === 'auto') return availableParallelism();
  if (!/^[1-9][0-9]*$/.test(value)) throw new Error(`--workers must be a positive integer or auto, not ${JSON.stringify(value)}`);
  const n = Number(value);
  if (n > 1024) throw new Error(`--workers ${value} is more processes than any machine has cores for`);
  return n;
}

/** This process is a worker forked by `mauth server --workers N`: its number, else undefined. */
export function clusterWorkerSlot(): string | undefined {
  return cluster.isWorker ? process.env[SLOT_ENV] : undefined;
}

/** In a worker: tells the primary the worker serves now. */
export function reportReady(): void {
  process.send?.({ mauth: 'ready' } satisfies ToPrimary);
}

/** In a worker: runs `drain` when the primary asks (its own SIGTERM/SIGINT is handled as in a single process). */
export function onDrainRequest(drain: () => void): void {
  process.on('message', (message: ToWorker) => {
    if (message?.mauth === 'drain') drain();
  });
}

export interface PrimaryOptions {
  workers: number;
  migrate: boolean;
  sync: boolean;
  log: Logger;
}

/**
 * The primary: start-up work done once, then the workers. Resolves once every worker serves;
 * rejects (after stopping the others) when one dies before that, as a single process that cannot
 * start fails.
 */
export async function runPrimary(config: Config, options: PrimaryOptions): Promise<void> {
  const log = options.log.child({ role: 'primary' });
  if (isEmbedded(config.database)) {
    throw new Error('--workers needs a PostgreSQL server (database.uri or host): the embedded database serves one process');
  }
  const db = await openDatabase(config, log, options.migrate, { bounded: true });
  try {
    if (options.sync) await syncAtStart(db.sql, config, log);
    else log.info('not syncing the configuration with the database (--no-sync)');
  } finally {
    await db.close();
  }

  const slots = new Map<number, { worker: ClusterWorker; startedAt: number; failures: number; timer?: NodeJS.Timeout }>();
  let shuttingDown = false;
  /** A signal asked for a drain: a worker that reports ready after it (it was still starting, deaf to the request) is asked again. */
  let draining = false;
  let started = false;
  let failed = 0;
  /** Set by a second signal: the exit code a single process would have had (128 + the signal). */
  let forced: number | undefined;

  const fork = (slot: number, failures: number) => {
    const worker = cluster.fork({ [SLOT_ENV]: String(slot) });
    slots.set(slot, { worker, startedAt: Date.now(), failures });
    log.info({ worker: slot, worker_pid: worker.process.pid }, 'worker started');
    return worker;
  };

  const startup = new Promise<void>((resolve, reject) => {
    const ready = new Set<number>();
    cluster.on('message', (worker, message: ToPrimary) => {
      if (message?.mauth !== 'ready') return;
      const slot = [...slots].find(([, s]) => s.worker === worker)?.[0];
      if (slot === undefined) return;
      if (draining) {
        if (worker.isConnected()) worker.send({ mauth: 'drain' } satisfies ToWorker);
        return;
      }
      log.info({ worker: slot, worker_pid: worker.process.pid }, 'worker serving');
      ready.add(slot);
      if (!started && ready.size === options.workers) {
        started = true;
        resolve();
      }
    });
    cluster.on('exit', (worker, code, signal) => {
      const entry = [...slots].find(([, s]) => s.worker === worker);
      if (!entry) return;
      const [slot, state] = entry;
      const how = { worker: slot, worker_pid: worker.process.pid, code, signal };
      if (shuttingDown) {
        // The exit code says how the shutdown went: 1 when a worker did not drain cleanly.
        if (code !== 0 || signal) failed += 1;
        log.info(how, 'worker stopped');
        slots.delete(slot);
        if (slots.size === 0) process.exit(forced ?? (failed > 0 ? 1 : 0));
        return;
      }
      if (!started) {
        // One worker could not start: neither can the others. Stop them and fail as one process would.
        shuttingDown = true;
        // Counted, so the primary exits 1 even when the others then stop cleanly.
        failed += 1;
        slots.delete(slot);
        log.error(how, 'a worker exited during start-up');
        for (const { worker: other } of slots.values()) other.process.kill('SIGTERM');
        reject(new Error(`worker ${slot} exited during start-up (${signal ?? `code ${code}`})`));
        return;
      }
      const lived = Date.now() - state.startedAt;
      const failures = lived >= STABLE_AFTER_MS ? 0 : state.failures;
      const delay = Math.min(RESTART_MAX_MS, RESTART_MIN_MS * 2 ** failures);
      log.warn({ ...how, restart_in_ms: delay }, 'worker exited; starting another in its place');
      state.timer = setTimeout(() => {
        state.timer = undefined;
        if (!shuttingDown) fork(slot, failures + 1);
      }, delay);
    });
  });

  for (let slot = 1; slot <= options.workers; slot += 1) fork(slot, 0);

  // The first SIGTERM/SIGINT has every worker drain (each waits up to http.shutdown_grace) and
  // exits once all have; a second one is passed on, so they stop at once, as a single process does.
  let signals = 0;
  const stop = (signal: 'SIGINT' | 'SIGTERM') => {
    signals += 1;
    shuttingDown = true;
    draining = true;
    if (signals > 1) forced = 128 + constants.signals[signal];
    for (const [slot, state] of slots) {
      if (state.timer) {
        clearTimeout(state.timer);
        slots.delete(slot);
      }
    }
    if (slots.size === 0) process.exit(forced ?? 0);
    if (signals === 1) {
      log.info({ signal, workers: slots.size }, 'shutting down: the workers drain');
      for (const { worker } of slots.values()) if (worker.isConnected()) worker.send({ mauth: 'drain' } satisfies ToWorker);
    } else {
      log.warn({ signal }, 'second signal: the workers stop without waiting for requests and jobs');
      for (const { worker } of slots.values()) worker.process.kill(signal);
    }
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));

  await startup;
  log.info({ workers: options.workers }, 'Mauth is running');
}
