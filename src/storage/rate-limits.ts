// Token buckets in PostgreSQL, so every instance shares them. One statement takes a token when
// one is available; the bucket refills continuously at `per_second` up to `burst`.
// The refill is timed by the database's clock, not the injected one: instances whose clocks
// disagree by a second would otherwise refill a shared bucket by that much on every request.
import type { Db } from './db.js';

export interface BucketResult {
  allowed: boolean;
  /** When refused: milliseconds until one token is back. */
  retryAfterMs: number;
}

export async function take(db: Db, key: string, burst: number, perSecond: number): Promise<BucketResult> {
  const [taken] = await db<{ tokens: number }[]>`
    INSERT INTO rate_limits AS b (key, tokens, updated_at)
    VALUES (${key}, ${burst - 1}, clock_timestamp())
    ON CONFLICT (key) DO UPDATE SET
      tokens = least(${burst}::float8, b.tokens + extract(epoch FROM clock_timestamp() - b.updated_at) * ${perSecond}::float8) - 1,
      updated_at = clock_timestamp()
    WHERE least(${burst}::float8, b.tokens + extract(epoch FROM clock_timestamp() - b.updated_at) * ${perSecond}::float8) >= 1
    RETURNING tokens`;
  if (taken) return { allowed: true, retryAfterMs: 0 };
  const [current] = await db<{ tokens: number }[]>`
    SELECT least(${burst}::float8, tokens + extract(epoch FROM clock_timestamp() - updated_at) * ${perSecond}::float8) AS tokens
    FROM rate_limits WHERE key = ${key}`;
  const missing = Math.max(0, 1 - (current?.tokens ?? 0));
  return { allowed: false, retryAfterMs: Math.max(1, Math.ceil((missing / perSecond) * 1000)) };
}

/** Forgets buckets that have been full for a while (called from a periodic job). */
export async function prune(db: Db, olderThanSeconds: number): Promise<number> {
  const rows = await db`DELETE FROM rate_limits WHERE updated_at < now() - make_interval(secs => ${olderThanSeconds}) RETURNING 1`;
  return rows.length;
}
