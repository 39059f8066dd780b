// Read-your-writes of the introspection cache (see introspection-cache.ts). A change committed by
// this process returns on a pool connection while its invalidation comes on the LISTEN
// connection a moment later; an introspection in between (right after the change's answer) must
// not be answered from the cache. So whatever reports a change made here (an HTTP response's
// head, a job's end) first sends a sync, a notification of its own, through the pool; until it
// comes back the cache is not answered from. Notifications arrive in commit order: by then every
// invalidation committed before it has been applied. One not heard within `timeoutMs` (or that
// could not be sent) means the listener cannot be trusted, as a lost heartbeat does.

/** Payloads of the syncs: never an invalidation key. */
export const SYNC_PREFIX = 'sync:';

export interface WriteSyncsOptions {
  /** This process's own prefix among all instances' syncs (a random nonce). */
  nonce: string;
  timeoutMs: number;
  /** Sends the payload through the request pool. */
  send(payload: string): Promise<void>;
  /** A sync was not heard in time, or not sent: called once for the syncs on their way then. */
  onUnheard(): void;
}

export class WriteSyncs {
  readonly #options: WriteSyncsOptions;
  readonly #ours: string;
  /** Syncs not heard yet, oldest first: number → when it was sent (monotonic ms). */
  readonly #pending = new Map<number, number>();
  #count = 0;
  #timer: NodeJS.Timeout | undefined;

  constructor(options: WriteSyncsOptions) {
    this.#options = options;
    this.#ours = `${SYNC_PREFIX}${options.nonce}:`;
  }

  /** Whether a sync is on its way. */
  get pending(): boolean {
    return this.#pending.size > 0;
  }

  /** Sends a sync: `pending` until it is heard (or `clear`). */
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
  }

  /** Forgets the syncs on their way (the cache is no longer used, or closed). */
  clear(): void {
    this.#pending.clear();
    clearTimeout(this.#timer);
    this.#timer = undefined;
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
