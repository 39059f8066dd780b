// Ending an OAuth 2.0 session is destroying its grant: its tokens go, the session is marked
// finished and its device is removed from the homeserver, all in one transaction. The provider's
// adapter and code that runs without a provider (the worker's inactivity sweep) share this path.
import type { Db, Sql } from '../storage/db.js';
import * as sessions from '../storage/oauth2-sessions.js';
import { enqueueDeleteDevice } from '../jobs/homeserver-jobs.js';
import { destroyGrant } from '../storage/oidc-payloads.js';

/** Runs in the transaction that deletes a grant: the OAuth 2.0 session it carried has ended. */
export async function grantDestroyed(tx: Db, grantId: string): Promise<void> {
  const session = await sessions.finishByGrantId(tx, grantId);
  if (session?.device_id) await enqueueDeleteDevice(tx, session.user_id, session.device_id);
}

/** Destroys grants exactly as `provider.Grant.adapter.destroy` does, for code that has no provider. */
export function grantDestroyer(sql: Sql): (grantId: string) => Promise<void> {
  return (grantId) => destroyGrant(sql, grantId, (tx) => grantDestroyed(tx, grantId));
}
