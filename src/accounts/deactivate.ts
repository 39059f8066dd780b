// Deactivating one's own account. One transaction marks the account deactivated (introspection
// refuses its tokens from the commit on), forgets its addresses, ends every session of every kind
// and writes the delete_user job (with `erase` when the user asked for their data to be erased);
// then the OAuth 2.0 grants are ended at once, as after a password reset.
import type { AppContext } from '../context.js';
import { enqueueDeleteUser } from '../jobs/account-jobs.js';
import type { OidcProvider } from '../oidc/provider.js';
import * as registrations from '../storage/registrations.js';
import * as users from '../storage/users.js';
import { endGrantsNow, endSessionsWithPassword } from './sessions.js';

/** False when the account was deactivated already (another tab). */
export async function deactivateAccount(app: AppContext, provider: OidcProvider, userId: string, erase: boolean): Promise<boolean> {
  const grantIds = await app.sql.begin(async (tx) => {
    const user = await users.deactivate(tx, userId, app.clock.now());
    if (!user) return undefined;
    await registrations.consumeAllRecoveryTickets(tx, userId);
    await registrations.dropPendingEmailCodes(tx, userId);
    const ended = await endSessionsWithPassword(tx, userId);
    await enqueueDeleteUser(tx, userId, erase);
    return ended;
  });
  if (!grantIds) return false;
  app.log.info({ user_id: userId, erase }, 'account deactivated by its user');
  await endGrantsNow(app, provider, userId, grantIds);
  return true;
}
