// Who may call the admin API: a bearer token carrying `urn:mas:admin`, which is
//   - an OAuth 2.0 access token (`mat_…`) of a user allowed admin scopes (authorization code or
//     device grant; the authorization grant policy decided that), or of a client in
//     `policy.data.admin_clients` (client_credentials);
//   - a personal access token (`mpt_…`) whose session holds the scope.
// Anything else is a 401 in MAS's error shape. A token for the homeserver's API alone never
// passes: the scope is checked on every call.
import type { AppContext } from '../context.js';
import { MAS_ADMIN_SCOPE, parseScope } from '../domain/scopes.js';
import { hashSecret, tokenKind } from '../domain/tokens.js';
import * as payloads from '../storage/oidc-payloads.js';
import * as personalSessions from '../storage/personal-sessions.js';
import { AdminError } from './errors.js';

export type Caller =
  /** An OAuth 2.0 token: of a user, or of a client alone (client_credentials). */
  | { kind: 'oauth2'; userId: string | null; clientId: string; scope: string[] }
  | { kind: 'personal'; sessionId: string; actorUserId: string; scope: string[] };

const CHALLENGE = { 'WWW-Authenticate': 'Bearer' };

function refuse(title: string): AdminError {
  return new AdminError(401, title, CHALLENGE);
}

/** Who owns the personal sessions a caller creates (MAS: the user, or else the client). */
export function ownerOf(caller: Caller): personalSessions.PersonalSessionOwner {
  if (caller.kind === 'personal') return { userId: caller.actorUserId };
  return caller.userId ? { userId: caller.userId } : { clientId: caller.clientId };
}

async function oauth2Caller(app: AppContext, key: string, now: Date): Promise<Caller> {
  const token = await payloads.findForIntrospection(app.sql, 'AccessToken', key, now);
  if (token) {
    if (token.consumed_at) throw refuse('Access token revoked');
    if (!token.user_active) throw refuse('User locked');
    // A use like any other: the refresh grace must know the token reached a resource server.
    if (!token.used_at) await payloads.markAccessTokenUsed(app.sql, key);
    return { kind: 'oauth2', userId: token.payload.accountId ?? null, clientId: token.payload.clientId ?? '', scope: parseScope(token.scope ?? token.payload.scope) };
  }
  const issued = await payloads.find(app.sql, 'ClientCredentials', key, now);
  if (!issued || issued.consumed_at) throw refuse('Unknown access token');
  const payload = issued.payload as { clientId?: string; scope?: string };
  return { kind: 'oauth2', userId: null, clientId: payload.clientId ?? '', scope: parseScope(payload.scope) };
}

async function personalCaller(app: AppContext, key: string, now: Date): Promise<Caller> {
  const found = await personalSessions.findByToken(app.sql, key, now);
  if (!found) throw refuse('Unknown access token');
  if (found.actor.locked_at || found.actor.deactivated_at || !found.owner_active) throw refuse('User locked');
  if (personalSessions.staleActivity(found.session, now)) await personalSessions.touch(app.sql, found.session.id, now);
  return { kind: 'personal', sessionId: found.session.id, actorUserId: found.actor.id, scope: parseScope(found.session.scope) };
}

export async function authenticate(app: AppContext, authorization: string | undefined): Promise<Caller> {
  if (!authorization) throw refuse('Missing authorization header');
  const match = /^Bearer +([^\s]+) *$/i.exec(authorization);
  if (!match) throw refuse('Invalid authorization header');
  const token = match[1];
  const kind = tokenKind(token);
  const now = app.clock.now();
  let caller: Caller;
  if (kind === 'accessToken') caller = await oauth2Caller(app, hashSecret(token), now);
  else if (kind === 'personalToken') caller = await personalCaller(app, hashSecret(token), now);
  else throw refuse('Invalid type of access token');
  if (!caller.scope.includes(MAS_ADMIN_SCOPE)) throw refuse(`Missing ${MAS_ADMIN_SCOPE} scope`);
  return caller;
}
