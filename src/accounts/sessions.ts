// Ending everything a user is signed in with (after a password reset): browsers, every OAuth 2.0
// grant (codes not yet exchanged included) and legacy sessions, then the homeserver's device list
// is synced to what is left.
import type Provider from 'oidc-provider';
import type { AppContext } from '../context.js';
import { enqueueSyncDevices } from '../jobs/homeserver-jobs.js';
import * as browserSessions from '../storage/browser-sessions.js';
import * as compat from '../storage/compat.js';
import * as oauth2Sessions from '../storage/oauth2-sessions.js';
import * as tokens from '../storage/tokens.js';

export async function endAllSessions(app: AppContext, provider: Provider, userId: string): Promise<void> {
  // Browsers first, so that no sign-in under way can mint a new code while the grants go.
  await app.sql.begin(async (tx) => {
    await browserSessions.finishAllForUser(tx, userId);
    await tokens.deleteProviderSessionsOfAccount(tx, userId);
  });
  const grantIds = new Set(await tokens.grantIdsOfAccount(app.sql, userId));
  for (const session of await oauth2Sessions.listActiveForUser(app.sql, userId)) grantIds.add(session.grant_id);
  for (const grantId of grantIds) await provider.Grant.adapter.destroy(grantId);
  await app.sql.begin(async (tx) => {
    await compat.finishAllForUser(tx, userId);
    await enqueueSyncDevices(tx, userId);
  });
}
