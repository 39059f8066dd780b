// When sessions were last used. Introspection is Synapse's hot path, so uses are collected in
// memory and written here in batches: one statement per flush for every session of both kinds.
import type { Db } from './db.js';

/** How often each instance writes the uses it collected. The expiry sweep allows for this delay. */
export const ACTIVITY_FLUSH_SECONDS = 5;

export interface ActivityBatch {
  /** OAuth 2.0 sessions by grant id, with the time of their latest use. */
  oauth: Map<string, Date>;
  /** Legacy sessions by id, with the time of their latest use. */
  compat: Map<string, Date>;
}

function columns(entries: Map<string, Date>): [string[], string[]] {
  // A fixed order, so concurrent flushes from several instances lock rows in the same order.
  const sorted = [...entries].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return [sorted.map(([id]) => id), sorted.map(([, at]) => at.toISOString())];
}

/**
 * Moves `last_active_at` of live sessions forward to their latest use. With `idleTtlSeconds`, a
 * use that came after the session had already been idle that long does not revive it: the
 * session has expired, and the sweep ends it.
 */
export async function recordActivity(db: Db, batch: ActivityBatch, idleTtlSeconds?: number): Promise<{ oauth: number; compat: number }> {
  const [grantIds, oauthAts] = columns(batch.oauth);
  const [sessionIds, compatAts] = columns(batch.compat);
  const ttl = idleTtlSeconds ?? null;
  const [row] = await db<{ oauth: number; compat: number }[]>`
    WITH oauth AS (
      UPDATE oauth2_sessions s SET last_active_at = greatest(s.last_active_at, v.at)
      FROM unnest(${grantIds}::text[], ${oauthAts}::timestamptz[]) AS v(grant_id, at)
      WHERE s.grant_id = v.grant_id AND s.finished_at IS NULL
        AND (${ttl}::int IS NULL OR coalesce(s.last_active_at, s.created_at) > v.at - make_interval(secs => ${ttl}::int))
      RETURNING 1
    ), legacy AS (
      UPDATE compat_sessions s SET last_active_at = greatest(s.last_active_at, v.at)
      FROM unnest(${sessionIds}::text[], ${compatAts}::timestamptz[]) AS v(id, at)
      WHERE s.id = v.id AND s.finished_at IS NULL
        AND (${ttl}::int IS NULL OR coalesce(s.last_active_at, s.created_at) > v.at - make_interval(secs => ${ttl}::int))
      RETURNING 1
    )
    SELECT (SELECT count(*) FROM oauth)::int AS oauth, (SELECT count(*) FROM legacy)::int AS compat`;
  return row;
}
