// Ending everything a user is signed in with, after a password reset. The transaction that sets
// the new password ends the browsers, oidc-provider's sign-in sessions, the legacy sessions and
// their login tokens not yet exchanged, and writes a job that ends every OAuth 2.0 grant the
// account has (codes not yet exchanged included): a request that dies after the commit cannot
// leave the old password's grants alive. The request still ends the grants itself, at once; the
// job then finds nothing left. The homeserver's device list follows through jobs.
import type { AppContext } from '../context.js';
import { grantDestroyer } from '../oidc/grants.js';
import { grantIdsOfUser, endOAuthSession } from '../oidc/sessions.js';
import type { OidcProvider } from '../oidc/provider.js';
import { enqueueEndUserSessions, enqueueSyncDevices } from '../jobs/homeserver-jobs.js';
import * as browserSessions from '../storage/browser-sessions.js';
import * as compat from '../storage/compat.js';
import type { Db, Sql } from '../storage/db.js';
import * as oauth2Sessions from '../storage/oauth2-sessions.js';
import * as payloads from '../storage/oidc-payloads.js';

/**
 * Runs in the transaction of the new password (or of a deactivation); returns the grants for
 * `endGrantsNow`. `keepBrowserSessionId`: the browser that changed its own password stays signed in.
 */
export async function endSessionsWithPassword(tx: Db, userId: string, keepBrowserSessionId?: string): Promise<string[]> {
  // Browsers first, so that no sign-in under way can mint a new code while the grants go.
  await browserSessions.finishAllForUser(tx, userId, keepBrowserSessionId);
  await payloads.deleteProviderSessionsOfAccount(tx, userId);
  await compat.finishAllForUser(tx, userId);
  await compat.dropUnexchangedSsoLogins(tx, userId);
  const grantIds = await grantIdsOfUser(tx, userId);
  await enqueueEndUserSessions(tx, userId, grantIds);
  await enqueueSyncDevices(tx, userId);
  return grantIds;
}

/** After the commit: ends the grants at once. A failure is logged; the job written with the password ends them. */
export async function endGrantsNow(app: AppContext, provider: OidcProvider, userId: string, grantIds: string[]): Promise<void> {
  try {
    for (const grantId of grantIds) await endOAuthSession(provider, grantId);
  } catch (err) {
    app.log.warn({ err, user_id: userId }, 'could not end the OAuth 2.0 sessions after a password reset; the queued job will');
  }
}

/** The live sessions of a user, by kind. */
export interface SessionCounts {
  oauth2: number;
  compat: number;
  browser: number;
}

export async function countSessions(db: Db, userId: string): Promise<SessionCounts> {
  return {
    oauth2: (await oauth2Sessions.listActiveForUser(db, userId)).length,
    compat: (await compat.listActiveForUser(db, userId)).length,
    browser: await browserSessions.countActiveForUser(db, userId),
  };
}

/**
 * Ends every session of the user (`mauth manage kill-sessions`, deactivation) outside a request:
 * the same transaction as after a password reset, then the grants are destroyed at once without a
 * provider (a failure is left to the job written in the transaction). `inTransaction` runs first
 * in that transaction, for callers that change the account with it. Returns what was live.
 */
export async function endAllSessions(sql: Sql, userId: string, inTransaction?: (tx: Db) => Promise<void>): Promise<SessionCounts> {
  const { counts, grantIds } = await sql.begin(async (tx) => {
    await inTransaction?.(tx);
    const live = await countSessions(tx, userId);
    return { counts: live, grantIds: await endSessionsWithPassword(tx, userId) };
  });
  const destroy = grantDestroyer(sql);
  try {
    for (const grantId of grantIds) await destroy(grantId);
  } catch {
    // The end_user_sessions job written above ends what is left.
  }
  return counts;
}
