// Changing one's password on the account page: the current password proves who is asking, the
// new one is held to the registration rules (zxcvbn, `passwords.minimum_complexity`), and the
// user may sign out everywhere else in the same transaction, as a reset does (sessions.ts),
// keeping only the browser that asked.
import type { AppContext } from '../context.js';
import type { OidcProvider } from '../oidc/provider.js';
import * as registrations from '../storage/registrations.js';
import * as users from '../storage/users.js';
import { checkStrength } from './password-strength.js';
import { checkOwnPassword, type PasswordDeps } from './reauth.js';
import { endGrantsNow, endSessionsWithPassword } from './sessions.js';

export interface ChangePasswordInput {
  user: users.User;
  browserSessionId: string;
  current: string;
  next: string;
  confirm: string;
  signOutOthers: boolean;
  ip: string | undefined;
}

/** Which field is wrong, and why; `hint` is zxcvbn's advice for a weak password. */
export type ChangePasswordOutcome =
  | { ok: true }
  | { ok: false; field: 'current_password'; problem: 'missing' | 'wrong' | 'no_password' | 'unavailable' }
  | { ok: false; field: 'current_password'; problem: 'rate_limited'; retryAfterMs: number }
  | { ok: false; field: 'new_password'; problem: 'missing' | 'too_weak'; hint?: string }
  | { ok: false; field: 'new_password_confirm'; problem: 'mismatch' };

export async function changePassword(
  app: AppContext,
  deps: PasswordDeps & { provider: OidcProvider },
  input: ChangePasswordInput,
): Promise<ChangePasswordOutcome> {
  const { user } = input;
  // A directory account's password is changed in the directory, not here.
  if (user.password_source !== 'local') return { ok: false, field: 'current_password', problem: 'no_password' };
  if (!input.current) return { ok: false, field: 'current_password', problem: 'missing' };
  if (!input.next) return { ok: false, field: 'new_password', problem: 'missing' };
  if (input.next !== input.confirm) return { ok: false, field: 'new_password_confirm', problem: 'mismatch' };
  const strength = checkStrength(input.next, app.config.passwords.minimum_complexity, [user.username, user.display_name ?? '']);
  if (!strength.ok) return { ok: false, field: 'new_password', problem: 'too_weak', hint: strength.hint };
  const check = await checkOwnPassword(app, deps, user, input.current, input.ip);
  if (!check.ok) {
    if (check.reason === 'rate_limited') return { ok: false, field: 'current_password', problem: 'rate_limited', retryAfterMs: check.retryAfterMs };
    if (check.reason === 'unavailable') return { ok: false, field: 'current_password', problem: 'unavailable' };
    return { ok: false, field: 'current_password', problem: check.reason === 'no_password' ? 'no_password' : 'wrong' };
  }

  const hashed = await deps.hasher.hash(input.next);
  const grantIds = await app.sql.begin(async (tx) => {
    await users.setPassword(tx, { userId: user.id, hashedPassword: hashed.hash, version: hashed.version });
    // Recovery links asked for before the change would undo it.
    await registrations.consumeAllRecoveryTickets(tx, user.id);
    return input.signOutOthers ? endSessionsWithPassword(tx, user.id, input.browserSessionId) : ([] as string[]);
  });
  if (grantIds.length) await endGrantsNow(app, deps.provider, user.id, grantIds);
  return { ok: true };
}
