// Forgetting what has expired: codes, tickets, tokens, unfinished flows and finished jobs. Each
// statement only touches rows well past their use, so running it from several workers is harmless.
// Ages are measured from the caller's `now`, except for the rate-limit buckets and the jobs, whose
// times are the database's own (see rate-limits.ts and jobs.ts).
import type { Db } from './db.js';
import { pruneExpired as pruneDeviceCodes } from './device-codes.js';
import { pruneExpired as pruneOidcPayloads } from './oidc-payloads.js';
import { pruneExpired as pruneRendezvousSessions } from './rendezvous.js';

export interface PruneCounts {
  [table: string]: number;
}

export async function pruneExpired(db: Db, now: Date): Promise<PruneCounts> {
  const count = async (rows: PromiseLike<readonly unknown[]>) => (await rows).length;
  return {
    oidc_payloads: await pruneOidcPayloads(db, now),
    oauth2_device_code_grants: await pruneDeviceCodes(db, now),
    rate_limits: await count(db`DELETE FROM rate_limits WHERE updated_at < now() - interval '1 day' RETURNING 1`),
    compat_sso_logins: await count(db`DELETE FROM compat_sso_logins WHERE created_at < ${now}::timestamptz - interval '1 day' RETURNING 1`),
    user_email_authentication_codes: await count(
      db`DELETE FROM user_email_authentication_codes WHERE expires_at < ${now}::timestamptz - interval '1 day' RETURNING 1`,
    ),
    user_recovery_tickets: await count(db`DELETE FROM user_recovery_tickets WHERE expires_at < ${now}::timestamptz - interval '1 day' RETURNING 1`),
    user_registrations: await count(
      db`DELETE FROM user_registrations WHERE completed_at IS NULL AND created_at < ${now}::timestamptz - interval '7 days' RETURNING 1`,
    ),
    // Kept while the browser session they signed in lives: back-channel logout needs them.
    upstream_oauth_sessions: await count(
      db`DELETE FROM upstream_oauth_sessions u WHERE u.created_at < ${now}::timestamptz - interval '7 days'
         AND NOT EXISTS (SELECT 1 FROM browser_sessions b WHERE b.id = u.browser_session_id AND b.finished_at IS NULL)
         RETURNING 1`,
    ),
    // Logout tokens live minutes; their jti only needs remembering for as long.
    upstream_logout_tokens: await count(db`DELETE FROM upstream_logout_tokens WHERE received_at < ${now}::timestamptz - interval '1 day' RETURNING 1`),
    // QR-login mailboxes live two minutes at most; creations prune a few on their way too.
    rendezvous_sessions: await pruneRendezvousSessions(db, now),
    // Finished jobs keep their payload (sealed mail secrets included) only for a week.
    jobs: await count(db`DELETE FROM jobs WHERE status IN ('done', 'failed') AND finished_at < now() - interval '7 days' RETURNING 1`),
  };
}
