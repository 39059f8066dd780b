// Removing one of the account's addresses. The homeserver gets the new list through a
// provision_user job in the same transaction. When registration requires an address, the last
// verified one stays: the account could not be recovered without it.
import type { Config } from '../config/types.js';
import { enqueueProvisionUser } from '../jobs/homeserver-jobs.js';
import type { Sql } from '../storage/db.js';
import * as users from '../storage/users.js';

export type RemoveEmailOutcome = 'removed' | 'not_found' | 'last_address';

export async function removeEmail(sql: Sql, config: Config, userId: string, emailId: string): Promise<RemoveEmailOutcome> {
  return sql.begin(async (tx) => {
    // Two removals at once must not both see the other address still there.
    await users.lockForUpdate(tx, userId);
    const emails = await users.listEmails(tx, userId);
    const target = emails.find((e) => e.id === emailId);
    if (!target) return 'not_found';
    const otherVerified = emails.some((e) => e.id !== emailId && e.verified_at);
    if (target.verified_at && !otherVerified && config.account.password_registration_email_required) return 'last_address';
    await users.removeEmailById(tx, userId, emailId);
    await enqueueProvisionUser(tx, userId);
    return 'removed';
  });
}
