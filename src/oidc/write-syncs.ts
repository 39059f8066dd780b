// Read-your-writes of the introspection cache (see introspection-cache.ts). A change committed by
// this process returns on a pool connection while its invalidation comes on the LISTEN
// connection a moment later; an introspection in between (right after the change's answer) must
// not be answered from the cache. So whatever reports a change made here (an HTTP response's
// head, a job's end) first sends a sync, a numbered notification of its own, through the pool.
// Notifications arrive in commit order: once a sync is heard, every invalidation committed before
// it has been applied. A lookup takes the number of the last sync sent when it arrives (`mark`)
// and may answer from the cache once every sync up to it is heard: it waits for that, briefly
// (`waitMs`), and goes to the database if that is not enough. A sync not heard within
// `timeoutMs` (or that could not be sent) means the listener cannot be trusted.

/** Payloads of the syncs: never an invalidation key. */
export const SYNC_PREFIX = 'sync:';

export interface WriteSyncsOptions {
  /** This process's own prefix among all instances' syncs (a random nonce). */
  nonce: string;
  timeoutMs: number;
  /** How long a lookup waits for the syncs before it rather than go to the database. */
  waitMs: number;
  /** Sends the payload through the request pool. */
  send(payload: string): Promise<void>;
  /** A sync was not heard in time, or not sent: called once for the syncs on their way then. */
  onUnheard(): void;
}

interface Waiter {
  mark: number;
  /** Monotonic ms after which it stops waiting. */
  until: number;
  resolve(): void;
}

export class WriteSyncs {
  readonly #options: WriteSyncsOptions;
  readonly #ours: string;
  /** Syncs not heard yet, by number, oldest first: number → when it was sent (monotonic ms). */
  readonly #pending = new Map<number, number>();
  #count = 0;
  #timer: NodeJS.Timeout | undefined;
  /** Lookups waiting, by mark (and so by deadline) ascending. */
  #waiters: Waiter[] = [];
  #waitTimer: NodeJS.Timeout | undefined;

  constructor(options: WriteSyncsOptions) {
    this.#options = options;
    this.#ours = `${SYNC_PREFIX}${options.nonce}:`;
  }

  /** The number of the last sync sent: a lookup arriving now needs every sync up to it heard. */
  mark(): number {
    return this.#count;
  }

  /** Whether every sync up to `mark` is heard (or no longer matters). */
  heardUpTo(mark: number): boolean {
    if (this.#pending.size === 0) return true;
    return (this.#pending.keys().next().value as number) > mark;
  }

  /** Resolves once every sync up to `mark` is heard, or after `waitMs` at most. */
  wait(mark: number): Promise<void> | undefined {
    if (this.heardUpTo(mark)) return undefined;
    return new Promise<void>((resolve) => {
      this.#waiters.push({ mark, until: performance.now() + this.#options.waitMs, resolve });
      if (!this.#waitTimer) this.#armWait(this.#options.waitMs);
    });
  }

  /** Sends a sync: lookups arriving from now on wait for it. */
  send(): void {
    const number = ++this.#count;
    this.#pending.set(number, performance.now());
    this.#options.send(`${this.#ours}${number}`).catch(() => {
      // Not sent: never heard. Unless given up already (cleared since).
      if (this.#pending.has(number)) this.#unheard();
    });
    if (!this.#timer) this.#arm(this.#options.timeoutMs);
  }

  /** A payload with SYNC_PREFIX was heard; another instance's is not ours to wait for. */
  heard(payload: string): void {
    if (!payload.startsWith(this.#ours) || this.#pending.size === 0) return;
    this.#pending.delete(Number(payload.slice(this.#ours.length)));
    if (this.#pending.size === 0) this.clear();
    else this.#release(false);
  }

  /** Forgets the syncs on their way (the cache is no longer used, or closed); no lookup waits. */
  clear(): void {
    this.#pending.clear();
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#release(true);
  }

  /** Lets go the waiters whose syncs are heard (all when `all`), and those out of patience. */
  #release(all: boolean): void {
    const now = performance.now();
    // By mark and deadline ascending: the first one kept keeps all after it.
    let released = 0;
    for (const waiter of this.#waiters) {
      if (!(all || waiter.until <= now || this.heardUpTo(waiter.mark))) break;
      waiter.resolve();
      released++;
    }
    if (released > 0) this.#waiters.splice(0, released);
    clearTimeout(this.#waitTimer);
    this.#waitTimer = undefined;
    if (this.#waiters.length > 0) this.#armWait(Math.max(0, this.#waiters[0].until - now));
  }

  #armWait(delayMs: number): void {
    this.#waitTimer = setTimeout(() => {
      this.#waitTimer = undefined;
      this.#release(false);
    }, delayMs);
    this.#waitTimer.unref();
  }

  #unheard(): void {
    this.clear();
    this.#options.onUnheard();
  }

  /** Checks the oldest sync on its way after `delayMs`. */
  #arm(delayMs: number): void {
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      const oldest = this.#pending.values().next();
      if (oldest.done) return;
      const age = performance.now() - oldest.value;
      if (age < this.#options.timeoutMs) this.#arm(this.#options.timeoutMs - age);
      else this.#unheard();
    }, delayMs);
    this.#timer.unref();
  }
}
