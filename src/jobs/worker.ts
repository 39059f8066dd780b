// Runs queued jobs. A worker is woken by LISTEN mauth_jobs when a job is committed, and polls as
// a fallback (lost notifications, jobs scheduled for later, the embedded database where LISTEN is
// off). Failures are retried with exponential backoff until the job's max_attempts.
// A claimed job is held by a lease (30 s by default) renewed while it runs (jobs/leases.ts); when a
// runner dies, any other worker takes its jobs back once their leases have expired. A handler that
// runs longer than `maxRunMs` (5 minutes by default) is given up on: its signal is aborted and the
// attempt fails, so a hung call cannot keep its lease, and its slot, for ever.
import { hostname } from 'node:os';
import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import { Counter, register as defaultRegistry, type Registry } from 'prom-client';
import type { Clock, Randomness } from '../clock.js';
import type { Sql } from '../storage/db.js';
import * as jobs from '../storage/jobs.js';
import type { Job } from '../storage/jobs.js';
import { LeaseKeeper } from './leases.js';

export interface JobContext {
  jobId: string;
  kind: string;
  /** 1 for the first run. */
  attempt: number;
  maxAttempts: number;
  /** A child logger carrying the job id and kind. */
  log: Logger;
  /**
   * Aborted when this runner lost the job's lease (another worker may be running it now): a
   * handler with more to do should stop. Whatever it does still, its outcome is not recorded.
   */
  signal: AbortSignal;
}

// Payloads are JSON read back from the database; each handler checks the shape it expects.
export type JobHandler = (payload: any, ctx: JobContext) => Promise<void>;

/** Thrown by a handler for a failure no retry can fix: the job fails at once. */
export class PermanentJobError extends Error {
  override readonly name = 'PermanentJobError';
}

export type Backoff = (attempt: number) => number;

const MAX_BACKOFF_MS = 60 * 60 * 1000;
/** The longest a handler may run (what a job was held for before leases were renewed). */
export const DEFAULT_MAX_RUN_MS = 5 * 60 * 1000;

/** 2^attempt seconds, capped at an hour, with "equal jitter" (between half and all of it). */
export function defaultBackoff(random: Randomness): Backoff {
  return (attempt) => {
    const half = Math.min(2 ** attempt * 1000, MAX_BACKOFF_MS) / 2;
    return Math.round(half + random.int(Math.floor(half) + 1));
  };
}

export interface WorkerOptions {
  sql: Sql;
  handlers: Record<string, JobHandler>;
  log: Logger;
  /** Decides which jobs are due and when a retry is (see storage/jobs.ts). */
  clock: Clock;
  random: Randomness;
  /** Recorded in jobs.locked_by (default: host, pid and a random suffix). */
  workerId?: string;
  /** Jobs run at the same time by this worker (default 4). */
  concurrency?: number;
  /** Fallback polling period (default 5 s). */
  pollIntervalMs?: number;
  /** Wake on LISTEN mauth_jobs (default true; the embedded database runs without it). */
  listen?: boolean;
  /** Delay before retry number `attempt` + 1, in milliseconds. */
  backoff?: Backoff;
  /** How long a claim holds a job; renewed every third of it while the job runs (default 30 s). */
  leaseMs?: number;
  /** How long a handler may run before the attempt is failed and its signal aborted (default 5 minutes). */
  maxRunMs?: number;
  /** Where the job metrics are registered (default: prom-client's global registry). */
  registry?: Registry;
}

const MAX_ERROR_LENGTH = 2000;

function jobsCounter(registry: Registry): Counter<'kind' | 'outcome'> {
  const name = 'mauth_jobs_total';
  const existing = registry.getSingleMetric(name);
  if (existing) return existing as Counter<'kind' | 'outcome'>;
  return new Counter({
    name,
    help: 'Job runs by kind and outcome (done, retry, failed)',
    labelNames: ['kind', 'outcome'] as const,
    registers: [registry],
  });
}

function describe(error: unknown): string {
  const text = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  return text.length > MAX_ERROR_LENGTH ? `${text.slice(0, MAX_ERROR_LENGTH)}…` : text;
}

export class Worker {
  readonly workerId: string;
  readonly #sql: Sql;
  readonly #handlers: Record<string, JobHandler>;
  readonly #log: Logger;
  readonly #clock: Clock;
  readonly #concurrency: number;
  readonly #pollIntervalMs: number;
  readonly #listen: boolean;
  readonly #backoff: Backoff;
  readonly #maxRunMs: number;
  readonly #counter: Counter<'kind' | 'outcome'>;

  readonly #active = new Map<string, Promise<void>>();
  readonly #leases: LeaseKeeper;
  #running = false;
  #timer: NodeJS.Timeout | undefined;
  #listener: { unlisten(): Promise<void> } | undefined;
  #pumping: Promise<void> | undefined;
  #wakeAgain = false;
  /** The last claim filled every free slot, so more jobs may be waiting for one. */
  #saturated = false;

  constructor(options: WorkerOptions) {
    this.#sql = options.sql;
    this.#handlers = options.handlers;
    this.#log = options.log;
    this.#clock = options.clock;
    this.workerId = options.workerId ?? `${hostname()}:${process.pid}:${options.random.bytes(3).toString('hex')}`;
    this.#concurrency = Math.max(1, options.concurrency ?? 4);
    this.#pollIntervalMs = options.pollIntervalMs ?? 5000;
    this.#listen = options.listen ?? true;
    this.#backoff = options.backoff ?? defaultBackoff(options.random);
    this.#maxRunMs = Math.max(1, options.maxRunMs ?? DEFAULT_MAX_RUN_MS);
    this.#leases = new LeaseKeeper(this.#sql, Math.max(1, options.leaseMs ?? jobs.DEFAULT_LEASE_MS), this.#log);
    this.#counter = jobsCounter(options.registry ?? defaultRegistry);
  }

  /** Starts listening and polling; resolves once LISTEN is in place, so no commit after it is missed. */
  async start(): Promise<void> {
    if (this.#running) return;
    this.#running = true;
    if (this.#listen) {
      try {
        // The third argument runs again after every reconnection: catch up on what was missed.
        this.#listener = await this.#sql.listen(jobs.JOBS_CHANNEL, () => this.#wake(), () => this.#wake());
      } catch (err) {
        this.#log.warn({ err }, 'LISTEN %s failed; relying on polling', jobs.JOBS_CHANNEL);
      }
    }
    // Stopped while LISTEN was being set up (a quick shutdown): no timer may outlive the stop.
    if (!this.#running) {
      const listener = this.#listener;
      this.#listener = undefined;
      await listener?.unlisten().catch((err: unknown) => this.#log.warn({ err }, 'UNLISTEN failed'));
      return;
    }
    this.#timer = setInterval(() => void this.#tick(), this.#pollIntervalMs);
    await this.#tick();
  }

  /** Stops taking jobs and waits for the running ones to finish. */
  async stop(): Promise<void> {
    this.#running = false;
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    const listener = this.#listener;
    this.#listener = undefined;
    if (listener) {
      await listener.unlisten().catch((err: unknown) => this.#log.warn({ err }, 'UNLISTEN failed'));
    }
    await this.#pumping;
    // Leases go on being renewed until the last running job is done.
    await Promise.allSettled(this.#active.values());
  }

  /** Claims up to `limit` ready jobs, runs them, and returns how many it ran (for tests and CLI). */
  async runOnce(limit = this.#concurrency): Promise<number> {
    const claimedAt = performance.now();
    const claimed = await jobs.claim(this.#sql, this.workerId, limit, this.#clock.now(), this.#leases.leaseMs);
    await Promise.all(claimed.map((job) => this.#run(job, claimedAt)));
    return claimed.length;
  }

  /** Takes back the jobs of runners whose lease expired (one indexed statement), then claims. */
  async #tick(): Promise<void> {
    if (!this.#running) return;
    try {
      const recovered = await jobs.recoverStale(this.#sql);
      if (recovered > 0) this.#log.warn({ recovered }, 'took back jobs whose runner let the lease expire');
    } catch (err) {
      this.#log.error({ err }, 'taking back jobs with an expired lease failed');
    }
    this.#wake();
  }

  #wake(): void {
    if (!this.#running) return;
    if (this.#pumping) {
      this.#wakeAgain = true;
      return;
    }
    this.#pumping = this.#pump()
      .catch((err: unknown) => this.#log.error({ err }, 'claiming jobs failed'))
      .finally(() => {
        this.#pumping = undefined;
        if (this.#wakeAgain) {
          this.#wakeAgain = false;
          this.#wake();
        }
      });
  }

  async #pump(): Promise<void> {
    while (this.#running) {
      this.#wakeAgain = false;
      const free = this.#concurrency - this.#active.size;
      if (free <= 0) {
        this.#saturated = true;
        return;
      }
      const claimedAt = performance.now();
      const claimed = await jobs.claim(this.#sql, this.workerId, free, this.#clock.now(), this.#leases.leaseMs);
      for (const job of claimed) void this.#run(job, claimedAt);
      this.#saturated = claimed.length === free;
      if (!this.#saturated) return;
    }
  }

  #run(job: Job, claimedAt: number): Promise<void> {
    // Claimed with a token: the database sets one on every claim.
    const lease: jobs.Lease = { id: job.id, token: job.lease_token ?? '' };
    const signal = this.#leases.hold(lease, claimedAt);
    const done = this.#execute(job, lease, signal).finally(() => {
      this.#active.delete(job.id);
      this.#leases.release(job.id);
      if (this.#saturated) this.#wake();
    });
    this.#active.set(job.id, done);
    return done;
  }

  async #execute(job: Job, lease: jobs.Lease, signal: AbortSignal): Promise<void> {
    const log = this.#log.child({ job_id: job.id, job_kind: job.kind });
    const handler = Object.hasOwn(this.#handlers, job.kind) ? this.#handlers[job.kind] : undefined;
    let failed = false;
    let error: unknown;
    if (!handler) {
      failed = true;
      error = new PermanentJobError(`no handler for job kind "${job.kind}"`);
    } else {
      try {
        const run = handler(job.payload, { jobId: job.id, kind: job.kind, attempt: job.attempts, maxAttempts: job.max_attempts, log, signal });
        await this.#leases.bounded(job.id, run, this.#maxRunMs);
      } catch (err) {
        failed = true;
        error = err;
      }
    }

    try {
      if (!failed) {
        const held = await jobs.complete(this.#sql, lease);
        if (!held) {
          log.warn('job finished after its lease had been taken back; its outcome is the new claim\'s to record');
          return;
        }
        this.#counter.inc({ kind: job.kind, outcome: 'done' });
        return;
      }
      const permanent = error instanceof PermanentJobError;
      const message = describe(error);
      const retryInMs = permanent ? 0 : this.#backoff(job.attempts);
      const updated = await jobs.fail(this.#sql, lease, message, { retryInMs, permanent }, this.#clock.now());
      if (!updated) {
        log.warn({ err: error }, 'job failed after its lease had been taken back');
        return;
      }
      if (updated.status === 'failed') {
        this.#counter.inc({ kind: job.kind, outcome: 'failed' });
        log.error({ err: error, attempt: job.attempts, max_attempts: job.max_attempts }, 'job failed, giving up');
      } else {
        this.#counter.inc({ kind: job.kind, outcome: 'retry' });
        log.warn({ err: error, attempt: job.attempts, retry_at: updated.run_at }, 'job failed, will retry');
      }
    } catch (err) {
      // The job stays `running` until its lease expires, then it is run again.
      log.error({ err }, 'could not record the outcome of a job');
    }
  }
}
