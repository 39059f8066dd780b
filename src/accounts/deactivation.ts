// Deactivating and reactivating an account (`mauth manage lock-user --deactivate`,
// `unlock-user --reactivate`, the admin API's `deactivate` and `reactivate`), as MAS does.
// Deactivation ends every session (personal sessions acting as or owned by the account too),
// forgets its addresses and identifiers, and queues the homeserver's `delete_user`, all in one
// transaction: the account is shut before anything reaches the homeserver. The CLI also locks it;
// the admin API leaves the lock alone (MAS: deactivate and lock are separate there). Reactivation
// clears the deactivation (the CLI also the lock) and queues `reactivate_user`, which sends the
// profile again afterwards.
import { enqueueDeactivateUser, enqueueReactivateUser } from '../jobs/account-jobs.js';
import type { Sql } from '../storage/db.js';
import * as personalSessions from '../storage/personal-sessions.js';
import * as users from '../storage/users.js';
import { endAllSessions, type SessionCounts } from './sessions.js';

export async function deactivateAccount(sql: Sql, userId: string, options: { erase?: boolean; lock?: boolean; now?: Date } = {}): Promise<SessionCounts> {
  return endAllSessions(sql, userId, async (tx) => {
    if (options.lock !== false) await users.setLocked(tx, userId, true);
    await users.setDeactivated(tx, userId, true);
    await users.removeAllIdentifiers(tx, userId);
    await personalSessions.revokeAllOfUser(tx, userId, options.now);
    await enqueueDeactivateUser(tx, userId, options.erase === true);
  });
}

/** Clears the deactivation and, unless told otherwise, the lock. */
export async function reactivateAccount(sql: Sql, userId: string, options: { unlock?: boolean } = {}): Promise<users.User | undefined> {
  return sql.begin(async (tx) => {
    let user = await users.setDeactivated(tx, userId, false);
    if (options.unlock !== false) user = await users.setLocked(tx, userId, false);
    if (user) await enqueueReactivateUser(tx, userId);
    return user;
  });
}
