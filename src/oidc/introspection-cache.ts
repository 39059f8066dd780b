// The introspection answer cache of one process, kept honest by the database: every change that
// can make an access token inactive is announced by a trigger in the transaction that makes it
// (PostgreSQL NOTIFY, see storage/invalidations.ts), and this process LISTENs on a connection of
// its own. While that connection is down nothing is announced to us, so the cache is flushed and
// not used until LISTEN is back (and flushed once more then: what happened meanwhile is unknown).
// A connection can also die without closing (a half-open TCP connection, a middlebox that
// stopped passing bytes) or LISTEN can succeed and hear nothing (a transaction-pooling PgBouncer):
// so the cache is used only while a notification sent through the request pool comes back on
// the listener: once before the cache is turned on, then every `heartbeatMs`; one that does not
// come back within `confirmTimeoutMs` counts as a lost connection. Read-your-writes on this
// instance: see `syncAfterWrite` and write-syncs.ts.
//
// Only active answers of access tokens are cached. An unknown token may be one whose commit is
// still on its way, and an inactive one may come back (an unlocked user): both are looked up.
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { DatabaseConfig } from '../config/types.js';
import type { Db } from '../storage/db.js';
import { announce, openInvalidationConnection, type InvalidationConnection } from '../storage/invalidations.js';
import { AnswerCache } from './answer-cache.js';
import { SYNC_PREFIX, WriteSyncs } from './write-syncs.js';

export { renderActive, type ActiveToken } from './active-answer.js';
import type { ActiveToken } from './active-answer.js';

export interface IntrospectionCacheStats {
  hits: number;
  misses: number;
  /** Times the LISTEN connection was lost (closed, or silent). */
  losses: number;
  /** Round trips (a notification sent through the pool) that did not come back in time. */
  unheard: number;
  /** Lookups sent to the database because a change made here was not yet known to be heard. */
  bypassed: number;
  listening: boolean;
  size: number;
}

export interface IntrospectionCacheOptions {
  ttlSeconds: number;
  maxEntries: number;
  log: Logger;
  /** The request pool: the round trips that prove notifications arrive are sent through it. */
  sql: Db;
  /** How often the listener is proven to hear (default 1 s). */
  heartbeatMs?: number;
  /** How long a round trip may take before the listener counts as lost (default 3 s). */
  confirmTimeoutMs?: number;
  /** How long a lookup waits for this process's changes to be heard, else it goes to the database (default 50 ms). */
  syncWaitMs?: number;
}

/** Payloads of the round trips: never an invalidation key. */
const PING_PREFIX = 'ping:';

/** Backoff between attempts to LISTEN again: 50 ms doubling up to 5 s. */
const retryDelayMs = (attempt: number) => Math.min(50 * 2 ** attempt, 5000);

export class IntrospectionCache {
  readonly #answers: AnswerCache<ActiveToken>;
  readonly #log: Logger;
  #connection: InvalidationConnection | undefined;
  #closed = false;
  #looping = false;
  #timer: NodeJS.Timeout | undefined;
  #wake: (() => void) | undefined;
  readonly #sql: Db;
  readonly #heartbeatMs: number;
  readonly #confirmTimeoutMs: number;
  readonly #nonce = randomUUID();
  #pings = 0;
  /** Round trips on their way: payload → called when it is heard. */
  readonly #awaiting = new Map<string, () => void>();
  #heartbeat: NodeJS.Timeout | undefined;
  /** The changes this process reported: a lookup takes a `mark()` on arrival, may `wait` for it, and passes it to `get`. */
  readonly syncs: WriteSyncs;
  readonly stats = { hits: 0, misses: 0, losses: 0, unheard: 0, bypassed: 0 };

  private constructor(options: IntrospectionCacheOptions) {
    this.#log = options.log;
    this.#sql = options.sql;
    this.#heartbeatMs = options.heartbeatMs ?? 1000;
    this.#confirmTimeoutMs = options.confirmTimeoutMs ?? 3000;
    this.#answers = new AnswerCache({ maxEntries: options.maxEntries, ttlMs: options.ttlSeconds * 1000 });
    this.syncs = new WriteSyncs({
      nonce: this.#nonce,
      timeoutMs: this.#confirmTimeoutMs,
      waitMs: options.syncWaitMs ?? 50,
      send: (payload) => announce(this.#sql, payload),
      onUnheard: () => {
        if (this.#closed || !this.#answers.enabled) return;
        this.stats.unheard++;
        this.#lost(true);
      },
    });
    // Nothing is trusted before LISTEN is in place.
    this.#answers.disable();
  }

  /**
   * Opens the LISTEN connection and waits for the first attempt; should it fail, introspection
   * goes to the database until a retry succeeds.
   */
  static async start(database: DatabaseConfig, options: IntrospectionCacheOptions): Promise<IntrospectionCache> {
    const cache = new IntrospectionCache(options);
    cache.#connection = await openInvalidationConnection(database, {
      onInvalidation: (payload) => cache.#heard(payload),
      onLost: () => cache.#lost(),
    });
    await cache.#listen(true);
    return cache;
  }

  get listening(): boolean {
    return this.#answers.enabled;
  }

  snapshot(): IntrospectionCacheStats {
    return { ...this.stats, listening: this.#answers.enabled, size: this.#answers.size };
  }

  /** A cached answer for the token hash, if there is one good at `now` (Mauth's clock), for a lookup that arrived at `mark`. */
  get(hash: string, now: Date, mark = this.syncs.mark()): ActiveToken | undefined {
    if (!this.syncs.heardUpTo(mark) && this.#answers.enabled) {
      // What the lookup reads may be stored: one read before a change is refused or dropped by its invalidation.
      this.stats.bypassed++;
      this.stats.misses++;
      return undefined;
    }
    const hit = this.#answers.get(hash, now.getTime());
    if (hit) this.stats.hits++;
    else this.stats.misses++;
    return hit;
  }

  /** A ticket to take before looking the token up (see AnswerCache). */
  begin(): number {
    return this.#answers.begin();
  }

  set(hash: string, token: ActiveToken, ticket: number, now: Date): void {
    this.#answers.set(hash, token, { ticket, deps: token.deps, expiresAt: token.expiresAt?.getTime(), nowMs: now.getTime() });
  }

  /**
   * Drops the answers named by `key` (as a notification names them) now: for a change this
   * process committed itself, whose own notification may come back after its next lookup.
   */
  invalidate(key: string): void {
    this.#answers.invalidate(key);
  }

  /**
   * A change may have been committed by this process: lookups arriving from now on answer from the
   * cache only once its invalidation is heard. Call it synchronously before what reports it leaves.
   */
  syncAfterWrite(): void {
    if (!this.#closed && this.#answers.enabled) this.syncs.send();
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#timer);
    clearTimeout(this.#heartbeat);
    this.syncs.clear();
    this.#wake?.();
    for (const heard of this.#awaiting.values()) heard();
    this.#answers.disable();
    await this.#connection?.close();
  }

  #heard(payload: string): void {
    if (payload.startsWith(PING_PREFIX)) this.#awaiting.get(payload)?.();
    else if (payload.startsWith(SYNC_PREFIX)) this.syncs.heard(payload);
    else this.#answers.invalidate(payload);
  }

  /**
   * Whether a notification sent now through the request pool is heard on the listener in time
   * (any failure to send counts as not heard: nothing proves that notifications arrive).
   */
  async #roundTrip(): Promise<boolean> {
    const payload = `${PING_PREFIX}${this.#nonce}:${++this.#pings}`;
    let timer: NodeJS.Timeout | undefined;
    const heard = new Promise<boolean>((resolve) => this.#awaiting.set(payload, () => resolve(true)));
    const timeout = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), this.#confirmTimeoutMs)));
    try {
      const ok = await Promise.race([announce(this.#sql, payload).then(() => heard), timeout]);
      if (!ok && !this.#closed) this.stats.unheard++;
      return ok;
    } catch {
      if (!this.#closed) this.stats.unheard++;
      return false;
    } finally {
      clearTimeout(timer);
      this.#awaiting.delete(payload);
    }
  }

  /** While the cache is used, proves every `heartbeatMs` that the listener still hears. */
  #scheduleHeartbeat(): void {
    clearTimeout(this.#heartbeat);
    if (this.#closed) return;
    this.#heartbeat = setTimeout(() => {
      if (this.#closed || this.#looping || !this.#answers.enabled) return;
      const losses = this.stats.losses;
      void this.#roundTrip().then((ok) => {
        if (this.#closed || this.stats.losses !== losses || this.#looping) return;
        if (ok) this.#scheduleHeartbeat();
        else this.#lost(true);
      });
    }, this.#heartbeatMs);
    this.#heartbeat.unref();
  }

  /** `silent`: the connection did not close but stopped hearing: it is abandoned for a new one. */
  #lost(silent = false): void {
    if (this.#closed) return;
    this.stats.losses++;
    const wasListening = this.#answers.enabled;
    this.#answers.disable();
    // Used again only once heard again, empty, by lookups that begin then: after every change
    // reported meanwhile.
    this.syncs.clear();
    clearTimeout(this.#heartbeat);
    if (wasListening) {
      this.#log.warn(
        silent
          ? 'introspection cache: the LISTEN connection stopped hearing notifications; answering from the database until it is back'
          : 'introspection cache: the LISTEN connection was lost; answering from the database until it is back',
      );
    }
    if (silent) void this.#connection!.abandon().catch(() => {}).then(() => this.#listen(false));
    else void this.#listen(false);
  }

  /** LISTEN, bounded in time: over a silently dead connection it would never be answered. */
  async #listenOnce(): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), this.#confirmTimeoutMs)));
    try {
      const listened = await Promise.race([this.#connection!.listen().then(() => true), timeout]);
      return listened && (await this.#roundTrip());
    } finally {
      clearTimeout(timer);
    }
  }

  /** LISTENs again until it works (one attempt when `once`, retried in the background after). */
  async #listen(once: boolean): Promise<void> {
    if (this.#looping || this.#closed) return;
    this.#looping = true;
    for (let attempt = 0; !this.#closed; attempt++) {
      const losses = this.stats.losses;
      try {
        if (!(await this.#listenOnce())) {
          // LISTEN or the round trip after it went unanswered: this connection cannot be trusted.
          await this.#connection!.abandon();
          throw new Error('notifications sent through the pool do not come back on the LISTEN connection');
        }
        // Lost again while LISTEN was on its way: go round once more.
        if (this.#closed || this.stats.losses !== losses) continue;
        // In one synchronous step with clearing #looping: a loss from now on starts a new loop.
        this.#looping = false;
        this.#answers.enable();
        this.#scheduleHeartbeat();
        this.#log.info('introspection cache: listening for invalidations');
        return;
      } catch (err) {
        if (attempt === 0) this.#log.warn({ err }, 'introspection cache: cannot LISTEN for invalidations; answering from the database meanwhile');
        if (once && attempt === 0) {
          // Start-up goes on; the retries continue in the background.
          this.#looping = false;
          setImmediate(() => void this.#listen(false));
          return;
        }
        await new Promise<void>((resolve) => {
          this.#wake = resolve;
          this.#timer = setTimeout(resolve, retryDelayMs(attempt));
        });
      }
    }
    this.#looping = false;
  }
}
