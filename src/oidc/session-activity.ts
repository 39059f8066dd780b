// Remembers which sessions introspection saw in use and writes that in batches, so Synapse's hot
// path never waits for a write: one statement per flush, every ACTIVITY_FLUSH_SECONDS, and a
// last flush when the server stops.
import type { Logger } from 'pino';
import type { Clock } from '../clock.js';
import type { Sql } from '../storage/db.js';
import { ACTIVITY_FLUSH_SECONDS, recordActivity, type ActivityBatch } from '../storage/session-activity.js';

export interface SessionActivityOptions {
  /** experimental.inactive_session_expiration.ttl: uses of sessions already idle that long are not recorded. */
  idleTtlSeconds?: number;
  flushIntervalMs?: number;
}

export class SessionActivity {
  #pending: ActivityBatch = { oauth: new Map(), compat: new Map() };
  #flushing: Promise<void> | undefined;
  #timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly sql: Sql,
    private readonly log: Logger,
    private readonly clock: Clock,
    private readonly options: SessionActivityOptions = {},
  ) {
    this.#timer = setInterval(() => void this.flush(), options.flushIntervalMs ?? ACTIVITY_FLUSH_SECONDS * 1000);
    this.#timer.unref();
  }

  /** An access token of the OAuth 2.0 session of this grant was used. */
  oauth(grantId: string): void {
    this.#pending.oauth.set(grantId, this.clock.now());
  }

  /** An access token of this legacy session was used. */
  compat(sessionId: string): void {
    this.#pending.compat.set(sessionId, this.clock.now());
  }

  /** Writes what was collected; a failed write is kept for the next flush. */
  flush(): Promise<void> {
    this.#flushing ??= this.#write().finally(() => {
      this.#flushing = undefined;
    });
    return this.#flushing;
  }

  /** Stops the timer and writes what is left. */
  async close(): Promise<void> {
    clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#flushing;
    await this.flush();
  }

  async #write(): Promise<void> {
    const batch = this.#pending;
    if (batch.oauth.size === 0 && batch.compat.size === 0) return;
    this.#pending = { oauth: new Map(), compat: new Map() };
    try {
      await recordActivity(this.sql, batch, this.options.idleTtlSeconds);
    } catch (err) {
      this.log.warn({ err }, 'recording session activity failed; will try again');
      // Uses seen since are later and win.
      for (const kind of ['oauth', 'compat'] as const) {
        for (const [id, at] of batch[kind]) if (!this.#pending[kind].has(id)) this.#pending[kind].set(id, at);
      }
    }
  }
}
