// An account's standing, as an administrator changes it (admin API, CLI): deactivating and
// reactivating, and who may request admin scopes. Locking is accounts/service.ts `setLocked`.
//
// Deactivation is MAS's: the account is marked in the same transaction that ends everything it
// is signed in with (browsers, legacy sessions, personal sessions, and a job that ends its OAuth
// 2.0 grants), forgets its e-mail addresses and queues `delete_user` for the homeserver. The
// request then ends the grants at once; the job finds nothing left.
import type { AppContext } from '../context.js';
import { grantIdsOfUser, endOAuthSession } from '../oidc/sessions.js';
import type { OidcProvider } from '../oidc/provider.js';
import { enqueueDeleteUser, enqueueEndUserSessions, enqueueProvisionUser } from '../jobs/homeserver-jobs.js';
import * as browserSessions from '../storage/browser-sessions.js';
import * as compat from '../storage/compat.js';
import * as payloads from '../storage/oidc-payloads.js';
import * as personalSessions from '../storage/personal-sessions.js';
import * as users from '../storage/users.js';

/** Undefined for an unknown user. `erase` asks the homeserver to erase the account's data (GDPR). */
export async function deactivateUser(app: AppContext, provider: OidcProvider, userId: string, erase: boolean): Promise<users.User | undefined> {
  const now = app.clock.now();
  const done = await app.sql.begin(async (tx) => {
    const user = await users.setDeactivated(tx, userId, now);
    if (!user) return undefined;
    // Browsers first, so that no sign-in under way can mint a new code while the grants go.
    await browserSessions.finishAllForUser(tx, userId);
    await payloads.deleteProviderSessionsOfAccount(tx, userId);
    // The homeserver removes the devices with the account: no delete_device jobs for these.
    await compat.finishAllForUser(tx, userId);
    await compat.dropUnexchangedSsoLogins(tx, userId);
    await personalSessions.revokeAllOfUser(tx, userId, now);
    await users.deleteAllIdentifiers(tx, userId);
    const grantIds = await grantIdsOfUser(tx, userId);
    if (grantIds.length) await enqueueEndUserSessions(tx, userId, grantIds);
    await enqueueDeleteUser(tx, userId, erase);
    return { user, grantIds };
  });
  if (!done) return undefined;
  try {
    for (const grantId of done.grantIds) await endOAuthSession(provider, grantId);
  } catch (err) {
    app.log.warn({ err, user_id: userId }, 'could not end the OAuth 2.0 sessions of a deactivated account; the queued job will');
  }
  return done.user;
}

/**
 * Reactivates the account on the homeserver first (as MAS does, synchronously: a failure leaves it
 * deactivated here too, and surfaces as 503), then here. A lock stays until it is lifted.
 */
export async function reactivateUser(app: AppContext, userId: string): Promise<users.User | undefined> {
  const user = await users.findById(app.sql, userId);
  if (!user) return undefined;
  if (!user.deactivated_at) return user;
  await app.homeserver.reactivateUser(user.username);
  return app.sql.begin(async (tx) => {
    const reactivated = await users.clearDeactivated(tx, userId);
    if (reactivated) await enqueueProvisionUser(tx, userId);
    return reactivated;
  });
}

/** Whether the user may request admin scopes (`urn:synapse:admin:*`, `urn:mas:admin`). */
export async function setCanRequestAdmin(app: AppContext, userId: string, admin: boolean): Promise<users.User | undefined> {
  return app.sql.begin(async (tx) => {
    const user = await users.setCanRequestAdmin(tx, userId, admin);
    if (user) await enqueueProvisionUser(tx, userId);
    return user;
  });
}
