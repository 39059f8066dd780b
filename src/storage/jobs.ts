// The job queue. Jobs are written in the same transaction as the change that causes them, and
// the NOTIFY that wakes workers is queued in that transaction too, so PostgreSQL delivers it only
// if, and when, the transaction commits. Workers claim with FOR UPDATE SKIP LOCKED, so any number
// of processes can share the table without running a job twice.
//
// Leases: a claim gives the job a new `lease_token` and a `lease_expires_at`; its runner renews the
// lease while the job runs, and any instance takes back a running job whose lease has expired (its
// runner died or lost the database). The outcome is recorded only under the token of the claim, so a
// runner that lost its lease cannot complete or fail the job over the runner that claimed it since.
//
// Time: leases are the database's clock alone, so that no instance takes back a job another one
// still runs because their clocks disagree. A job is due by the database's clock (it
// stamps jobs enqueued without a time) or by the worker's clock when that one is ahead: the
// worker's clock can only make jobs due sooner, and tests move it forward to make a retry due
// without waiting. Retries are scheduled after the later of the two.
import type postgres from 'postgres';
import { ulid } from 'ulid';
import type { Db } from './db.js';

export const JOBS_CHANNEL = 'mauth_jobs';
export const DEFAULT_MAX_ATTEMPTS = 10;
/** How long a claim holds a job unless renewed (`database.job_lease`'s default). */
export const DEFAULT_LEASE_MS = 30_000;

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
  /** New at every claim; null unless running. */
  lease_token: string | null;
  lease_expires_at: Date | null;
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

function leaseEnd(db: Db, leaseMs: number) {
  return db`now() + ${Math.max(0, Math.round(leaseMs))}::double precision * interval '1 millisecond'`;
}

/**
 * Takes up to `limit` jobs due at `now` for `workerId`, counting the attempt, each under a lease
 * of `leaseMs` and the returned `lease_token`. Oldest first.
 */
export async function claim(db: Db, workerId: string, limit: number, now: Date, leaseMs = DEFAULT_LEASE_MS): Promise<Job[]> {
  if (limit <= 0) return [];
  const jobs = await db<Job[]>`
    UPDATE jobs
    SET status = 'running', locked_at = now(), locked_by = ${workerId}, attempts = attempts + 1,
        lease_token = ${ulid()}, lease_expires_at = ${leaseEnd(db, leaseMs)}
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

/** The claim whose outcome is being recorded: the job and the token its claim returned. */
export interface Lease {
  id: string;
  token: string;
}

/** Marks a claimed job done; false when the claim no longer holds it (its lease was taken back). */
export async function complete(db: Db, lease: Lease): Promise<boolean> {
  const rows = await db`
    UPDATE jobs
    SET status = 'done', finished_at = now(), locked_at = NULL, locked_by = NULL, lease_token = NULL, lease_expires_at = NULL
    WHERE id = ${lease.id} AND status = 'running' AND lease_token = ${lease.token}
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
  lease: Lease,
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
        locked_by = NULL,
        lease_token = NULL,
        lease_expires_at = NULL
    WHERE id = ${lease.id} AND status = 'running' AND lease_token = ${lease.token}
    RETURNING *`;
  return job;
}

/**
 * Pushes the leases of claims still running `leaseMs` past now. Returns the ids still held: a job
 * missing from the answer was taken back (or its lease token is another claim's now).
 */
export async function renew(db: Db, leases: Lease[], leaseMs: number): Promise<Set<string>> {
  if (leases.length === 0) return new Set();
  const rows = await db<{ id: string }[]>`
    UPDATE jobs SET locked_at = now(), lease_expires_at = ${leaseEnd(db, leaseMs)}
    FROM unnest(${leases.map((l) => l.id)}::text[], ${leases.map((l) => l.token)}::text[]) AS held(id, token)
    WHERE jobs.id = held.id AND jobs.lease_token = held.token AND jobs.status = 'running'
    RETURNING jobs.id`;
  return new Set(rows.map((r) => r.id));
}

/**
 * Takes back running jobs whose lease has expired (their runner crashed or lost the database):
 * back to `pending`, or `failed` when that was their last attempt. Returns how many. A job claimed
 * by a Mauth from before leases had an end keeps the five minutes that one assumed.
 */
export async function recoverStale(db: Db): Promise<number> {
  const rows = await db`
    UPDATE jobs
    SET status = CASE WHEN attempts >= max_attempts THEN 'failed' ELSE 'pending' END,
        finished_at = CASE WHEN attempts >= max_attempts THEN now() ELSE NULL END,
        last_error = 'lease of worker ' || coalesce(locked_by, '?') || ' expired',
        run_at = now(),
        locked_at = NULL,
        locked_by = NULL,
        lease_token = NULL,
        lease_expires_at = NULL
    WHERE status = 'running' AND coalesce(lease_expires_at, locked_at + interval '5 minutes') < now()
    RETURNING id`;
  return rows.length;
}
