// Ending OAuth 2.0 sessions from outside the protocol engine (account page, password reset,
// upstream back-channel logout). Ending one is destroying its grant: the tokens go, the session is
// marked finished and its device deletion is queued (see grants.ts), as for a revocation.
import type { Sql } from '../storage/db.js';
import * as oauth2Sessions from '../storage/oauth2-sessions.js';
import * as payloads from '../storage/oidc-payloads.js';
import type { OidcProvider } from './provider.js';

export async function endOAuthSession(provider: OidcProvider, grantId: string): Promise<void> {
  await provider.Grant.adapter.destroy(grantId);
}

/** Every grant of the user: running sessions and authorization codes not yet exchanged. */
export async function endAllOAuthSessionsOfUser(sql: Sql, provider: OidcProvider, userId: string): Promise<void> {
  const grantIds = new Set(await payloads.grantIdsOfAccount(sql, userId));
  for (const session of await oauth2Sessions.listActiveForUser(sql, userId)) grantIds.add(session.grant_id);
  for (const grantId of grantIds) await endOAuthSession(provider, grantId);
}
