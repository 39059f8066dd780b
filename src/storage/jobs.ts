// The job queue. Jobs are written in the same transaction as the change that causes them, and
// the NOTIFY that wakes workers is queued in that transaction too, so PostgreSQL delivers it only
// if, and when, the transaction commits. Workers claim with FOR UPDATE SKIP LOCKED, so any number
// of processes can share the table without running a job twice.
//
// Time: leases (`locked_at`) are the database's clock alone, so that no instance takes back a job
// another one still runs because their clocks disagree. A job is due by the database's clock (it
// stamps jobs enqueued without a time) or by the worker's clock when that one is ahead: the
// worker's clock can only make jobs due sooner, and tests move it forward to make a retry due
// without waiting. Retries are scheduled after the later of the two.
import type postgres from 'postgres';
import { ulid } from 'ulid';
import type { Db } from './db.js';

export const JOBS_CHANNEL = 'mauth_jobs';
export const DEFAULT_MAX_ATTEMPTS = 10;

export type JobStatus = 'pending' | 'running' | 'done' | 'failed';

export interface Job {
  id: string;
  kind: string;
  payload: unknown;
  status: JobStatus;
  attempts: number;
  max_attempts: number;
  run_at: Date;
  locked_at: Date | null;
  locked_by: string | null;
  last_error: string | null;
  created_at: Date;
  finished_at: Date | null;
}

export interface EnqueueOptions {
  /** Not before this time (default: now). */
  runAt?: Date;
  maxAttempts?: number;
}

/** Adds a job and wakes listening workers when the surrounding transaction commits. */
export async function enqueue(db: Db, kind: string, payload: object, options: EnqueueOptions = {}): Promise<string> {
  const id = ulid();
  const maxAttempts = options.maxAttempts ?? DEFAULT_MAX_ATTEMPTS;
  if (!Number.isInteger(maxAttempts) || maxAttempts < 1) throw new RangeError('maxAttempts must be a positive integer');
  await db`
    INSERT INTO jobs (id, kind, payload, max_attempts, run_at)
    VALUES (${id}, ${kind}, ${db.json(payload as postgres.JSONValue)}, ${maxAttempts},
            coalesce(${options.runAt ?? null}::timestamptz, now()))`;
  await db`SELECT pg_notify(${JOBS_CHANNEL}, ${kind})`;
  return id;
}

export async function findById(db: Db, id: string): Promise<Job | undefined> {
  const [job] = await db<Job[]>`SELECT * FROM jobs WHERE id = ${id}`;
  return job;
}

/** The later of the database's time and the worker's `now`. */
function queueTime(db: Db, now: Date) {
  return db`greatest(now(), ${now}::timestamptz)`;
}

/** Takes up to `limit` jobs due at `now` for `workerId`, counting the attempt. Oldest first. */
export async function claim(db: Db, workerId: string, limit: number, now: Date): Promise<Job[]> {
  if (limit <= 0) return [];
  const jobs = await db<Job[]>`
    UPDATE jobs
    SET status = 'running', locked_at = now(), locked_by = ${workerId}, attempts = attempts + 1
    WHERE id IN (
      SELECT id FROM jobs
      WHERE status = 'pending' AND run_at <= ${queueTime(db, now)}
      ORDER BY run_at
      LIMIT ${limit}
      FOR UPDATE SKIP LOCKED
    )
    RETURNING *`;
  return [...jobs].sort((a, b) => a.run_at.getTime() - b.run_at.getTime() || a.id.localeCompare(b.id));
}

/** Marks a claimed job done; false when the worker no longer holds it (its lease was taken back). */
export async function complete(db: Db, id: string, workerId: string): Promise<boolean> {
  const rows = await db`
    UPDATE jobs
    SET status = 'done', finished_at = now(), locked_at = NULL, locked_by = NULL
    WHERE id = ${id} AND status = 'running' AND locked_by = ${workerId}
    RETURNING id`;
  return rows.length > 0;
}

export interface FailOptions {
  /** Delay before the next attempt, when one is left. */
  retryInMs: number;
  /** Give up now whatever the attempts left (an error no retry can fix). */
  permanent?: boolean;
}

/**
 * Records a failed attempt: back to `pending` at `now` + `retryInMs` while attempts remain, else
 * `failed`. Returns the updated job, or undefined when the worker no longer holds it.
 */
export async function fail(
  db: Db,
  id: string,
  workerId: string,
  error: string,
  options: FailOptions,
  now: Date,
): Promise<Job | undefined> {
  const giveUp = options.permanent ?? false;
  const delayMs = Math.max(0, Math.round(options.retryInMs));
  const [job] = await db<Job[]>`
    UPDATE jobs
    SET status = CASE WHEN ${giveUp}::boolean OR attempts >= max_attempts THEN 'failed' ELSE 'pending' END,
        run_at = CASE WHEN ${giveUp}::boolean OR attempts >= max_attempts THEN run_at
                      ELSE ${queueTime(db, now)} + ${delayMs}::double precision * interval '1 millisecond' END,
        finished_at = CASE WHEN ${giveUp}::boolean OR attempts >= max_attempts THEN now() ELSE NULL END,
        last_error = ${error},
        locked_at = NULL,
        locked_by = NULL
    WHERE id = ${id} AND status = 'running' AND locked_by = ${workerId}
    RETURNING *`;
  return job;
}

/** Renews the lease of jobs a worker is still running, so recovery leaves them alone. */
export async function touch(db: Db, workerId: string, ids: string[]): Promise<void> {
  if (ids.length === 0) return;
  await db`
    UPDATE jobs SET locked_at = now()
    WHERE id = ANY(${ids}::text[]) AND status = 'running' AND locked_by = ${workerId}`;
}

/**
 * Takes back jobs whose worker stopped renewing them for `leaseMs` (it crashed or lost the
 * database): back to `pending`, or `failed` when that was their last attempt. Returns how many.
 */
export async function recoverStale(db: Db, leaseMs: number): Promise<number> {
  const rows = await db`
    UPDATE jobs
    SET status = CASE WHEN attempts >= max_attempts THEN 'failed' ELSE 'pending' END,
        finished_at = CASE WHEN attempts >= max_attempts THEN now() ELSE NULL END,
        last_error = 'lease of worker ' || coalesce(locked_by, '?') || ' expired',
        run_at = now(),
        locked_at = NULL,
        locked_by = NULL
    WHERE status = 'running' AND locked_at < now() - ${leaseMs}::double precision * interval '1 millisecond'
    RETURNING id`;
  return rows.length;
}
