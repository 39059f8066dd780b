// Deactivating and reactivating an account (`mauth manage lock-user --deactivate`,
// `unlock-user --reactivate`), as MAS does. Deactivation locks the account, ends every session,
// forgets its addresses and identifiers, and queues the homeserver's `delete_user`, all in one
// transaction: the account is shut before anything reaches the homeserver. Reactivation clears
// both marks and queues `reactivate_user`, which sends the profile again afterwards.
import { enqueueDeactivateUser, enqueueReactivateUser } from '../jobs/account-jobs.js';
import type { Sql } from '../storage/db.js';
import * as users from '../storage/users.js';
import { endAllSessions, type SessionCounts } from './sessions.js';

export async function deactivateAccount(sql: Sql, userId: string, options: { erase?: boolean } = {}): Promise<SessionCounts> {
  return endAllSessions(sql, userId, async (tx) => {
    await users.setLocked(tx, userId, true);
    await users.setDeactivated(tx, userId, true);
    await users.removeAllIdentifiers(tx, userId);
    await enqueueDeactivateUser(tx, userId, options.erase === true);
  });
}

/** Clears the deactivation and the lock. */
export async function reactivateAccount(sql: Sql, userId: string): Promise<users.User | undefined> {
  return sql.begin(async (tx) => {
    await users.setDeactivated(tx, userId, false);
    const user = await users.setLocked(tx, userId, false);
    if (user) await enqueueReactivateUser(tx, userId);
    return user;
  });
}
