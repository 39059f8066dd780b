// The in-process cache of introspection answers, keyed by token hash. Pure bookkeeping, no I/O:
// the caller feeds it invalidations (PostgreSQL NOTIFY, see introspection-cache.ts) and says when
// it may trust them (`enable`) and when not (`disable`).
//
// An entry lives until the first of: its token's expiry (by Mauth's clock), `ttlMs` of real
// time (a bound on staleness should an invalidation ever be missed), an invalidation of the
// token or of anything it depends on (its user, grant, session), eviction of the least recently
// used entry beyond `maxEntries`, or a flush.
//
// A lookup that started before an invalidation may return what was true before it; such an
// answer is not stored. Every lookup takes a ticket (`begin`) first, and `set` refuses the answer
// when an invalidation of one of its keys, or a flush, came after that ticket.

export interface AnswerCacheOptions {
  maxEntries: number;
  /** Longest time an answer is kept, in milliseconds of real time. */
  ttlMs: number;
  /** Monotonic milliseconds (default: performance.now). */
  monotonic?: () => number;
  /** How many recent invalidations are remembered for lookups in flight (older tickets are refused). */
  recentLimit?: number;
}

interface Entry<V> {
  value: V;
  /** Invalidation keys of what the answer depends on, besides the token itself. */
  deps: readonly string[];
  /** Mauth's clock (epoch ms) at which the token expires; undefined: no expiry. */
  expiresAt: number | undefined;
  /** Monotonic ms after which the entry is stale. */
  staleAt: number;
}

/** The invalidation key of a token, by its hash. */
export function tokenKey(hash: string): string {
  return `token:${hash}`;
}

export class AnswerCache<V> {
  readonly #maxEntries: number;
  readonly #ttlMs: number;
  readonly #monotonic: () => number;
  readonly #recentLimit: number;
  /** Token hash → entry, least recently used first. */
  readonly #entries = new Map<string, Entry<V>>();
  /** Dependency key → hashes of the entries that depend on it. */
  readonly #index = new Map<string, Set<string>>();
  /** Counts invalidations and flushes; tickets are its values. */
  #seq = 0;
  /** Key → the sequence number of its latest invalidation still remembered. */
  readonly #recent = new Map<string, number>();
  readonly #recentOrder: { key: string; seq: number }[] = [];
  #recentHead = 0;
  /** Tickets at or below this predate what is remembered (a flush, or forgotten invalidations). */
  #floor = 0;
  #enabled = true;

  constructor(options: AnswerCacheOptions) {
    this.#maxEntries = options.maxEntries;
    this.#ttlMs = options.ttlMs;
    this.#monotonic = options.monotonic ?? (() => performance.now());
    this.#recentLimit = options.recentLimit ?? 10_000;
  }

  get size(): number {
    return this.#entries.size;
  }

  get enabled(): boolean {
    return this.#enabled;
  }

  /** A ticket for a lookup about to start: pass it to `set` with the answer. */
  begin(): number {
    return this.#seq;
  }

  /** The answer for a token, if one is cached and still good at `nowMs` (Mauth's clock). */
  get(hash: string, nowMs: number): V | undefined {
    if (!this.#enabled) return undefined;
    const entry = this.#entries.get(hash);
    if (!entry) return undefined;
    if ((entry.expiresAt !== undefined && nowMs >= entry.expiresAt) || this.#monotonic() >= entry.staleAt) {
      this.#remove(hash, entry);
      return undefined;
    }
    // Most recently used last.
    this.#entries.delete(hash);
    this.#entries.set(hash, entry);
    return entry.value;
  }

  /**
   * Stores the answer of a lookup that began with `ticket`, unless something it depends on was
   * invalidated (or the cache flushed or disabled) since. Returns whether it was stored.
   */
  set(hash: string, value: V, options: { ticket: number; deps: readonly string[]; expiresAt: number | undefined; nowMs: number }): boolean {
    const { ticket, deps, expiresAt, nowMs } = options;
    if (!this.#enabled || this.#maxEntries <= 0 || this.#ttlMs <= 0) return false;
    if (ticket < this.#floor || ticket > this.#seq) return false;
    if (expiresAt !== undefined && expiresAt <= nowMs) return false;
    if (ticket < this.#seq) {
      if ((this.#recent.get(tokenKey(hash)) ?? 0) > ticket) return false;
      for (const dep of deps) if ((this.#recent.get(dep) ?? 0) > ticket) return false;
    }
    const old = this.#entries.get(hash);
    if (old) this.#remove(hash, old);
    const entry: Entry<V> = { value, deps: [...new Set(deps)], expiresAt, staleAt: this.#monotonic() + this.#ttlMs };
    this.#entries.set(hash, entry);
    for (const dep of entry.deps) {
      let set = this.#index.get(dep);
      if (!set) this.#index.set(dep, (set = new Set()));
      set.add(hash);
    }
    while (this.#entries.size > this.#maxEntries) {
      const [oldest, oldestEntry] = this.#entries.entries().next().value as [string, Entry<V>];
      this.#remove(oldest, oldestEntry);
    }
    return true;
  }

  /**
   * Something changed: `token:<hash>` drops that token's answer, any other key (`user:<id>`,
   * `grant:<id>`, …) every answer that depends on it.
   */
  invalidate(key: string): void {
    const seq = ++this.#seq;
    this.#recent.set(key, seq);
    this.#recentOrder.push({ key, seq });
    if (this.#recentOrder.length - this.#recentHead > this.#recentLimit) this.#forgetOldest();
    if (key.startsWith('token:')) {
      const hash = key.slice(6);
      const entry = this.#entries.get(hash);
      if (entry) this.#remove(hash, entry);
      return;
    }
    const hashes = this.#index.get(key);
    if (!hashes) return;
    for (const hash of [...hashes]) {
      const entry = this.#entries.get(hash);
      if (entry) this.#remove(hash, entry);
    }
  }

  /** Forgets every answer; lookups in flight do not store theirs. */
  flush(): void {
    this.#seq++;
    this.#floor = this.#seq;
    this.#entries.clear();
    this.#index.clear();
    this.#recent.clear();
    this.#recentOrder.length = 0;
    this.#recentHead = 0;
  }

  /** Invalidations can no longer be trusted to arrive: flush, and answer nothing until `enable`. */
  disable(): void {
    this.flush();
    this.#enabled = false;
  }

  /** Invalidations arrive again; what happened while they did not is unknown, so start empty. */
  enable(): void {
    this.flush();
    this.#enabled = true;
  }

  #forgetOldest(): void {
    const { key, seq } = this.#recentOrder[this.#recentHead++];
    if (this.#recent.get(key) === seq) this.#recent.delete(key);
    this.#floor = Math.max(this.#floor, seq);
    // Compact now and then rather than shifting on every invalidation.
    if (this.#recentHead > 1024 && this.#recentHead * 2 > this.#recentOrder.length) {
      this.#recentOrder.splice(0, this.#recentHead);
      this.#recentHead = 0;
    }
  }

  #remove(hash: string, entry: Entry<V>): void {
    this.#entries.delete(hash);
    for (const dep of entry.deps) {
      const set = this.#index.get(dep);
      if (!set) continue;
      set.delete(hash);
      if (set.size === 0) this.#index.delete(dep);
    }
  }
}
