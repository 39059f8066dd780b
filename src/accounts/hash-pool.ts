// The bounded pool every password hash and verification runs through (passwords.ts): at most
// `concurrency` at once, the rest waiting in order, and at most `maxQueue` waiting. Beyond that a
// call fails at once with PasswordsBusy instead of the queue (and every client's wait) growing
// without bound; the routes answer it 429 with a retry hint (http/unavailable.ts).
//
// Why: argon2 and pbkdf2 run on libuv's thread pool (4 threads by default, shared with DNS, file
// and other crypto work) and bcrypt on worker threads; unbounded, a burst of logins keeps every
// core busy hashing and starves the event loop that answers introspection for the homeserver.
// With `max(1, cores − 1)` at once, one core is always left for the event loop.
import { AsyncLocalStorage } from 'node:async_hooks';
import { availableParallelism } from 'node:os';
import { performance } from 'node:perf_hooks';

/** The pool is full: try again after `retryAfterMs`. */
export class PasswordsBusy extends Error {
  override readonly name = 'PasswordsBusy';
  constructor(readonly retryAfterMs: number) {
    super('too many password checks are waiting; try again shortly');
  }
}

/**
 * The request a password check was for is gone (its client left, or the request deadline already
 * answered): the check left the queue without running. Nobody is there to be answered.
 */
export class PasswordCheckAbandoned extends Error {
  override readonly name = 'PasswordCheckAbandoned';
  constructor() {
    super('the request was gone before its password check could start');
  }
}

/** The signal of the request being handled (set by the HTTP server, http/unavailable.ts). */
const requestGone = new AsyncLocalStorage<AbortSignal>();

/**
 * Runs `handler` as the handling of one request whose end (a client that left, a deadline that
 * answered) `gone` signals: a password check it still waits for leaves the queue then.
 */
export function whileRequestLasts<T>(gone: AbortSignal, handler: () => T): T {
  return requestGone.run(gone, handler);
}

/** Runs `work` as nobody's request: what it waits for in the pool stays queued whoever leaves. */
export function forNoRequest<T>(work: () => T): T {
  return requestGone.exit(work);
}

/** One slot per core but one, and at least one. */
export function defaultHashConcurrency(): number {
  return Math.max(1, availableParallelism() - 1);
}

/** How many may wait per slot by default: about 3 s of argon2id (≈ 40 ms each) per slot. */
export const DEFAULT_QUEUE_PER_SLOT = 64;

export interface HashPoolOptions {
  /** How many run at once (≥ 1). */
  concurrency: number;
  /** How many may wait beyond those (≥ 0). */
  maxQueue: number;
}

/** The retry hint: at least a second (Retry-After counts seconds), at most a minute. */
const MIN_RETRY_MS = 1000;
const MAX_RETRY_MS = 60_000;

export class HashPool {
  readonly concurrency: number;
  readonly maxQueue: number;
  private active = 0;
  private readonly waiting: Array<() => void> = [];
  /** A running average of how long one task takes, for the retry hint. */
  private averageMs = 100;

  constructor(options: HashPoolOptions) {
    if (!Number.isInteger(options.concurrency) || options.concurrency < 1) throw new RangeError('the hash pool needs a concurrency of at least 1');
    if (!Number.isInteger(options.maxQueue) || options.maxQueue < 0) throw new RangeError('the hash pool queue limit must be 0 or more');
    this.concurrency = options.concurrency;
    this.maxQueue = options.maxQueue;
  }

  /** Tasks running now. */
  get running(): number {
    return this.active;
  }

  /** Tasks waiting for a slot. */
  get queued(): number {
    return this.waiting.length;
  }

  /** About how long until the queue as it is now has drained. */
  retryAfterMs(): number {
    const estimate = Math.ceil((this.averageMs * (this.active + this.waiting.length)) / this.concurrency);
    return Math.min(MAX_RETRY_MS, Math.max(MIN_RETRY_MS, estimate));
  }

  /**
   * Throws PasswordsBusy if a call now would be: callers check this before they count an attempt
   * (rate limits), so that a busy answer costs the client none of its tries. (The pool may still
   * fill before the call; that attempt is counted, as before.)
   */
  refuseIfFull(): void {
    if (this.active >= this.concurrency && this.waiting.length >= this.maxQueue) throw new PasswordsBusy(this.retryAfterMs());
  }

  /**
   * Runs `task` in a slot, after those before it; rejects with PasswordsBusy (without running it)
   * when the queue is full. The task's own result or error is passed on; either frees the slot.
   * When the request it is for is gone (whileRequestLasts) before it starts, it leaves the queue
   * and rejects with PasswordCheckAbandoned: it would take a slot from those still waiting.
   */
  async run<T>(task: () => Promise<T>): Promise<T> {
    const gone = requestGone.getStore();
    if (gone?.aborted) throw new PasswordCheckAbandoned();
    if (this.active >= this.concurrency) {
      if (this.waiting.length >= this.maxQueue) throw new PasswordsBusy(this.retryAfterMs());
      // The slot is handed over by release(): `active` already counts this task when it resumes.
      await new Promise<void>((resolve, reject) => {
        const leave = () => {
          const at = this.waiting.indexOf(start);
          if (at >= 0) this.waiting.splice(at, 1);
          reject(new PasswordCheckAbandoned());
        };
        const start = () => {
          gone?.removeEventListener('abort', leave);
          resolve();
        };
        gone?.addEventListener('abort', leave, { once: true });
        this.waiting.push(start);
      });
    } else {
      this.active += 1;
    }
    const started = performance.now();
    try {
      return await task();
    } finally {
      this.averageMs = this.averageMs * 0.8 + (performance.now() - started) * 0.2;
      this.release();
    }
  }

  private release(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.active -= 1;
  }
}
