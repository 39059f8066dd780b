// Ending an OAuth 2.0 session is destroying its grant: its tokens go, the session is marked
// finished and its device is removed from the homeserver, all in one transaction. The provider's
// adapter and code that runs without a provider (the worker's inactivity sweep, the password
// reset's job, which is why `grantDestroyed` itself lives in jobs/) share this path.
import type { Sql } from '../storage/db.js';
import { grantDestroyed } from '../jobs/homeserver-jobs.js';
import { destroyGrant } from '../storage/oidc-payloads.js';

export { grantDestroyed };

/** Destroys grants exactly as `provider.Grant.adapter.destroy` does, for code that has no provider. */
export function grantDestroyer(sql: Sql): (grantId: string) => Promise<void> {
  return (grantId) => destroyGrant(sql, grantId, (tx) => grantDestroyed(tx, grantId));
}
