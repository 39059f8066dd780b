// Ending everything a user is signed in with, after a password reset. The transaction that sets
// the new password ends the browsers, oidc-provider's sign-in sessions, the legacy sessions and
// their login tokens not yet exchanged, and writes a job that ends every OAuth 2.0 grant the
// account has (codes not yet exchanged included): a request that dies after the commit cannot
// leave the old password's grants alive. The request still ends the grants itself, at once; the
// job then finds nothing left. The homeserver's device list follows through jobs.
import type { AppContext } from '../context.js';
import { grantIdsOfUser, endOAuthSession } from '../oidc/sessions.js';
import type { OidcProvider } from '../oidc/provider.js';
import { enqueueEndUserSessions, enqueueSyncDevices } from '../jobs/homeserver-jobs.js';
import * as browserSessions from '../storage/browser-sessions.js';
import * as compat from '../storage/compat.js';
import type { Db } from '../storage/db.js';
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
