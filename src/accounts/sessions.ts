// Ending everything a user is signed in with (after a password reset): browsers, every OAuth 2.0
// grant (codes not yet exchanged included) and legacy sessions, then the homeserver's device list
// is synced to what is left.
import type { AppContext } from '../context.js';
import { endAllOAuthSessionsOfUser } from '../oidc/sessions.js';
import type { OidcProvider } from '../oidc/provider.js';
import { enqueueSyncDevices } from '../jobs/homeserver-jobs.js';
import * as browserSessions from '../storage/browser-sessions.js';
import * as compat from '../storage/compat.js';
import * as payloads from '../storage/oidc-payloads.js';

export async function endAllSessions(app: AppContext, provider: OidcProvider, userId: string): Promise<void> {
  // Browsers first, so that no sign-in under way can mint a new code while the grants go.
  await app.sql.begin(async (tx) => {
    await browserSessions.finishAllForUser(tx, userId);
    await payloads.deleteProviderSessionsOfAccount(tx, userId);
  });
  await endAllOAuthSessionsOfUser(app.sql, provider, userId);
  await app.sql.begin(async (tx) => {
    await compat.finishAllForUser(tx, userId);
    await enqueueSyncDevices(tx, userId);
  });
}
