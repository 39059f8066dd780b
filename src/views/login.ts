// Checking a username and password, shared by the authorization login form and /login.
import type { AppContext } from '../context.js';
import type { PasswordHasher } from '../accounts/passwords.js';
import { localpartFromLogin } from '../domain/usernames.js';
import * as users from '../storage/users.js';

export type LoginOutcome =
  | { ok: true; user: users.User }
  | { ok: false; reason: 'invalid' | 'locked' | 'deactivated' | 'disabled' };

export async function checkPassword(
  app: AppContext,
  hasher: PasswordHasher,
  login: string,
  password: string,
): Promise<LoginOutcome> {
  if (!app.config.passwords.enabled) return { ok: false, reason: 'disabled' };
  const localpart = localpartFromLogin(login, app.config.matrix.homeserver);
  const user = localpart ? await users.findByUsername(app.sql, localpart) : undefined;
  const stored = user ? await users.currentPassword(app.sql, user.id) : undefined;
  if (!user || !stored) {
    await hasher.verifyDummy(password);
    return { ok: false, reason: 'invalid' };
  }
  const { valid, needsRehash } = await hasher.verify(
    { hash: stored.hashed_password, version: stored.version },
    password,
  );
  if (!valid) return { ok: false, reason: 'invalid' };
  if (user.deactivated_at) return { ok: false, reason: 'deactivated' };
  if (user.locked_at) return { ok: false, reason: 'locked' };
  if (needsRehash) {
    const rehashed = await hasher.hash(password);
    await users.setPassword(app.sql, { userId: user.id, hashedPassword: rehashed.hash, version: rehashed.version });
  }
  return { ok: true, user };
}

export const LOGIN_ERRORS: Record<Exclude<LoginOutcome, { ok: true }>['reason'], string> = {
  invalid: 'Invalid username or password.',
  locked: 'This account is locked.',
  deactivated: 'This account has been deactivated.',
  disabled: 'Password sign-in is disabled on this server.',
};
