// Personal access tokens (`mpt_…`): a personal session acting as a user, for scripts and
// operators, created through the admin API or `mauth manage issue-personal-token`. The token is
// shown once, at creation or regeneration; only its SHA-256 is kept.
import { secondsAfter } from '../clock.js';
import type { AppContext } from '../context.js';
import { deviceIdOf, parseScope } from '../domain/scopes.js';
import { generateToken, hashSecret } from '../domain/tokens.js';
import * as personalSessions from '../storage/personal-sessions.js';
import type { User } from '../storage/users.js';

/** RFC 6749's scope-token: printable ASCII except space, `"` and `\`. */
const SCOPE_TOKEN = /^[\x21\x23-\x5B\x5D-\x7E]+$/;
const MAX_SCOPE_LENGTH = 2048;

export class InvalidPersonalScopeError extends Error {
  override readonly name = 'InvalidPersonalScopeError';
}

/** The scope as stored (tokens in order, duplicates dropped); throws InvalidPersonalScopeError. */
export function checkPersonalScope(scope: string): string {
  const tokens = [...new Set(parseScope(scope))];
  if (tokens.length === 0 || scope.length > MAX_SCOPE_LENGTH) throw new InvalidPersonalScopeError('the scope must list at least one scope token');
  for (const token of tokens) {
    if (!SCOPE_TOKEN.test(token)) throw new InvalidPersonalScopeError(`${JSON.stringify(token)} is not a scope token`);
    // A device would have to exist on the homeserver, and follow the session's end: not supported.
    if (deviceIdOf(token) !== undefined) throw new InvalidPersonalScopeError('personal sessions cannot hold a device scope');
  }
  return tokens.join(' ');
}

export interface IssuedPersonalToken {
  session: personalSessions.PersonalSession;
  token: string;
}

/** A new personal session for an active `actor`, with its first token. */
export async function createPersonalSession(
  app: AppContext,
  input: { owner: personalSessions.PersonalSessionOwner; actor: User; humanName: string; scope: string; expiresIn?: number },
): Promise<IssuedPersonalToken> {
  const scope = checkPersonalScope(input.scope);
  const token = generateToken('personalToken', app.random);
  const now = app.clock.now();
  const expiresAt = input.expiresIn !== undefined ? secondsAfter(now, input.expiresIn) : null;
  const session = await app.sql.begin(async (tx) => {
    const created = await personalSessions.create(tx, { owner: input.owner, actorUserId: input.actor.id, humanName: input.humanName, scope, now });
    await personalSessions.addToken(tx, { sessionId: created.id, tokenHash: hashSecret(token), now, expiresAt });
    return (await personalSessions.find(tx, created.id))!;
  });
  return { session, token };
}

/** Replaces the live token of a live session; undefined when the session is revoked (or unknown). */
export async function regeneratePersonalToken(app: AppContext, sessionId: string, expiresIn?: number): Promise<IssuedPersonalToken | undefined> {
  const token = generateToken('personalToken', app.random);
  const now = app.clock.now();
  const expiresAt = expiresIn !== undefined ? secondsAfter(now, expiresIn) : null;
  return app.sql.begin(async (tx) => {
    if (!(await personalSessions.revokeLiveToken(tx, sessionId, now))) return undefined;
    await personalSessions.addToken(tx, { sessionId, tokenHash: hashSecret(token), now, expiresAt });
    return { session: (await personalSessions.find(tx, sessionId))!, token };
  });
}
