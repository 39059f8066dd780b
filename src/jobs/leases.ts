// The leases of the jobs one worker is running. Each claim holds its job for `leaseMs`; while any
// job runs, the leases are renewed every third of that. A job whose lease turns out to be lost
// (the renewal finds another claim, or no renewal succeeded for a whole lease, so another instance
// may have taken it back) gets its signal aborted: the handler should stop, and the outcome is not
// recorded over the new claim's (storage/jobs.ts compares the lease token).
import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import type { Sql } from '../storage/db.js';
import * as jobs from '../storage/jobs.js';

interface Held {
  lease: jobs.Lease;
  abort: AbortController;
  /** Until when (performance.now()) the lease is surely held: the start of its last renewal (or claim) plus the lease. */
  heldUntil: number;
}

export class LeaseKeeper {
  readonly #held = new Map<string, Held>();
  #timer: NodeJS.Timeout | undefined;
  #renewing = false;

  constructor(
    private readonly sql: Sql,
    readonly leaseMs: number,
    private readonly log: Logger,
  ) {}

  get size(): number {
    return this.#held.size;
  }

  /** Starts keeping the lease of a job claimed at `claimedAt` (performance.now() before the claim); returns its signal. */
  hold(lease: jobs.Lease, claimedAt: number): AbortSignal {
    const abort = new AbortController();
    this.#held.set(lease.id, { lease, abort, heldUntil: claimedAt + this.leaseMs });
    this.#timer ??= setInterval(() => void this.renew(), Math.max(1, Math.floor(this.leaseMs / 3)));
    return abort.signal;
  }

  /** The job ended: its lease is no longer renewed (the outcome released it). */
  release(id: string): void {
    this.#held.delete(id);
    if (this.#held.size === 0 && this.#timer) {
      clearInterval(this.#timer);
      this.#timer = undefined;
    }
  }

  /**
   * Waits for a held job's handler, at most `maxRunMs`: past that its signal is aborted and the
   * wait rejects, so the attempt fails and the runner's slot is free even if the handler never settles.
   */
  async bounded(id: string, run: Promise<void>, maxRunMs: number): Promise<void> {
    let overrun: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        run,
        new Promise<never>((_resolve, reject) => {
          overrun = setTimeout(() => {
            const err = new Error(`ran longer than ${maxRunMs} ms`);
            const h = this.#held.get(id);
            if (h && !h.abort.signal.aborted) h.abort.abort(err);
            reject(err);
          }, maxRunMs);
        }),
      ]);
    } finally {
      clearTimeout(overrun);
    }
  }

  /** Renews every lease held; aborts the jobs whose lease is lost. */
  async renew(): Promise<void> {
    // Checked at every tick, also while a renewal is still waiting for its answer (a connection
    // gone silent answers nothing, and no error comes to say so): a lease not renewed for its
    // whole length is another runner's to take.
    const now = performance.now();
    for (const h of this.#held.values()) if (now > h.heldUntil) this.#lose(h, 'the lease could not be renewed in time');
    if (this.#renewing || this.#held.size === 0) return;
    this.#renewing = true;
    const held = [...this.#held.values()];
    const startedAt = performance.now();
    try {
      const still = await jobs.renew(this.sql, held.map((h) => h.lease), this.leaseMs);
      for (const h of held) {
        if (still.has(h.lease.id)) h.heldUntil = Math.max(h.heldUntil, startedAt + this.leaseMs);
        else this.#lose(h, 'another claim holds the job now');
      }
    } catch (err) {
      this.log.error({ err }, 'renewing job leases failed');
      // Whatever the database thinks, a lease not renewed for its whole length is another runner's to take.
      for (const h of held) if (performance.now() > h.heldUntil) this.#lose(h, 'the lease could not be renewed in time');
    } finally {
      this.#renewing = false;
    }
  }

  #lose(h: Held, why: string): void {
    if (h.abort.signal.aborted) return;
    this.log.warn({ job_id: h.lease.id, why }, 'lost the lease of a running job; stopping it');
    h.abort.abort(new Error(`lost the job's lease: ${why}`));
  }
}
