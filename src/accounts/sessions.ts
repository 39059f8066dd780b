// Ending everything a user is signed in with (after a password reset): OAuth 2.0 sessions,
// legacy sessions and browsers here, then the homeserver's device list is synced to what is left.
import type Provider from 'oidc-provider';
import type { AppContext } from '../context.js';
import { enqueueSyncDevices } from '../jobs/homeserver-jobs.js';
import * as browserSessions from '../storage/browser-sessions.js';
import * as compat from '../storage/compat.js';
import * as oauth2Sessions from '../storage/oauth2-sessions.js';

export async function endAllSessions(app: AppContext, provider: Provider, userId: string): Promise<void> {
  for (const session of await oauth2Sessions.listActiveForUser(app.sql, userId)) {
    await provider.Grant.adapter.destroy(session.grant_id);
  }
  await app.sql.begin(async (tx) => {
    await compat.finishAllForUser(tx, userId);
    await browserSessions.finishAllForUser(tx, userId);
    await enqueueSyncDevices(tx, userId);
  });
}
