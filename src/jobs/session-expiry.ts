// experimental.inactive_session_expiration, as MAS does it: live sessions unused for longer than
// `ttl` are ended, per kind (OAuth 2.0, legacy, browser), through the same paths as a logout, so
// their devices leave the homeserver. A session never used has been idle since it was created.
import type { ExperimentalConfig } from '../config/types.js';
import * as browserSessions from '../storage/browser-sessions.js';
import type * as compat from '../storage/compat.js';
import { finishIdle as finishIdleCompat } from '../storage/compat.js';
import type { Db, Sql } from '../storage/db.js';
import * as oauth2Sessions from '../storage/oauth2-sessions.js';
import { ACTIVITY_FLUSH_SECONDS } from '../storage/session-activity.js';

export type InactiveSessionExpiration = NonNullable<ExperimentalConfig['inactive_session_expiration']>;

/** How often the sweep runs: with the slack below, a session ends within 30 s of crossing its ttl. */
export const SWEEP_INTERVAL_MS = 15_000;
/** Uses reach the database up to ACTIVITY_FLUSH_SECONDS late; a session is only swept past that. */
const SLACK_SECONDS = 2 * ACTIVITY_FLUSH_SECONDS;
const BATCH_SIZE = 200;
/** Bounds one sweep; whatever is left is ended by the next one. */
const MAX_BATCHES = 25;

/** The logout paths the sweep ends sessions through (injected: they live above this layer). */
export interface SessionEnders {
  /** Destroys an OAuth 2.0 session's grant: its tokens, the session and its device go (oidc/grants.ts). */
  destroyGrant(grantId: string): Promise<void>;
  /** Ends the legacy sessions `select` finishes and removes their devices (compat/sessions.ts). */
  endCompatSessions(select: (tx: Db) => Promise<compat.CompatSession[]>): Promise<number>;
}

export interface ExpiredSessions {
  oauth: number;
  compat: number;
  browser: number;
}

async function inBatches(next: () => Promise<number>): Promise<number> {
  let total = 0;
  for (let i = 0; i < MAX_BATCHES; i++) {
    const count = await next();
    total += count;
    if (count < BATCH_SIZE) break;
  }
  return total;
}

/** Ends every live session of the enabled kinds that has been idle for longer than `ttl` at `now`. */
export async function expireInactiveSessions(
  sql: Sql,
  settings: InactiveSessionExpiration,
  enders: SessionEnders,
  now: Date,
): Promise<ExpiredSessions> {
  const idleSeconds = settings.ttl + SLACK_SECONDS;
  const ended: ExpiredSessions = { oauth: 0, compat: 0, browser: 0 };
  if (settings.expire_oauth_sessions) {
    const failures: unknown[] = [];
    ended.oauth = await inBatches(async () => {
      const idle = await oauth2Sessions.listIdle(sql, idleSeconds, BATCH_SIZE, now);
      // One grant that cannot be destroyed must not keep the others alive.
      for (const session of idle) await enders.destroyGrant(session.grant_id).catch((err: unknown) => failures.push(err));
      return idle.length;
    });
    if (failures.length) throw new AggregateError(failures, `${failures.length} idle OAuth 2.0 sessions could not be ended`);
  }
  if (settings.expire_compat_sessions) {
    ended.compat = await inBatches(() => enders.endCompatSessions((tx) => finishIdleCompat(tx, idleSeconds, BATCH_SIZE, now)));
  }
  if (settings.expire_user_sessions) {
    ended.browser = await inBatches(() => browserSessions.finishIdle(sql, idleSeconds, BATCH_SIZE, now));
  }
  return ended;
}
