// Introspecting a personal access token (`mpt_…`), as MAS answers for it: active while the
// token is neither revoked nor expired, its session live, its actor (and owning user) neither
// locked nor deactivated. The answer names the actor; there is no client (a user owns the
// session) or the owning client's id, and no device.
import type { Clock } from '../clock.js';
import { parseScope, withBothForms } from '../domain/scopes.js';
import type { Db } from '../storage/db.js';
import * as personalSessions from '../storage/personal-sessions.js';
import type { ActiveToken } from './active-answer.js';

/** The active answer for a personal token, or undefined when it is not active. */
export async function resolvePersonalToken(db: Db, clock: Clock, tokenHash: string): Promise<ActiveToken | undefined> {
  const at = clock.now();
  const found = await personalSessions.findByToken(db, tokenHash, at);
  if (!found || found.actor.locked_at || found.actor.deactivated_at || !found.owner_active) return undefined;
  if (personalSessions.staleActivity(found.session, at)) await personalSessions.touch(db, found.session.id, at);
  const iat = Math.floor(found.token.created_at.getTime() / 1000);
  return {
    base: {
      active: true,
      scope: withBothForms(parseScope(found.session.scope)).join(' '),
      ...(found.session.owner_client_id ? { client_id: found.session.owner_client_id } : {}),
      username: found.actor.username,
      sub: found.actor.id,
      token_type: 'access_token',
      iat,
      nbf: iat,
    },
    expiresAt: found.token.expires_at ?? undefined,
    deps: [`user:${found.actor.id}`, `personal:${found.session.id}`, ...(found.session.owner_user_id ? [`user:${found.session.owner_user_id}`] : [])],
  };
}
