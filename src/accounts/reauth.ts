// Proving again who one is before something that cannot be undone (deactivating the account,
// letting the homeserver replace the cross-signing keys, changing the password): the password
// (kept here, or in the directory for a directory account), or, for an account without one, a
// fresh sign-in through one of its upstream provider links.
import type { AppContext } from '../context.js';
import * as upstream from '../storage/upstream.js';
import * as users from '../storage/users.js';
import { authenticatePassword, type PasswordDirectory } from './authenticate.js';
import type { PasswordHasher } from './passwords.js';
import { RateLimited, type LoginLimiter } from './rate-limit.js';

/** How recent a sign-in through a provider must be to count as proving it again. */
export const REAUTH_WINDOW_SECONDS = 300;

export type PasswordCheck =
  | { ok: true }
  /** `unavailable`: the directory did not answer; try again shortly. */
  | { ok: false; reason: 'wrong' | 'no_password' | 'disabled' | 'unavailable' }
  | { ok: false; reason: 'rate_limited'; retryAfterMs: number };

export interface PasswordDeps {
  hasher: PasswordHasher;
  limiter: LoginLimiter;
  directory?: PasswordDirectory;
}

/**
 * The signed-in user's own password, under the login rate limits (a stolen browser session must
 * not become a way to guess it). Passwords off, or no password set, never match. A directory
 * account's password is the directory's: it is checked as a login by username would check it.
 */
export async function checkOwnPassword(app: AppContext, deps: PasswordDeps, user: users.User, password: string, ip: string | undefined): Promise<PasswordCheck> {
  if (!app.config.passwords.enabled) return { ok: false, reason: 'disabled' };
  if (user.password_source !== 'local') {
    if (!deps.directory) return { ok: false, reason: 'no_password' };
    const outcome = await authenticatePassword(app, deps, { kind: 'user', name: user.username }, password, ip);
    if (outcome.ok) return outcome.user.id === user.id ? { ok: true } : { ok: false, reason: 'wrong' };
    if (outcome.reason === 'rate_limited') return outcome;
    return { ok: false, reason: outcome.reason === 'unavailable' ? 'unavailable' : 'wrong' };
  }
  const userId = user.id;
  // A full pool answers busy before anything counts against the IP or the account.
  deps.hasher.pool.refuseIfFull();
  try {
    await deps.limiter.perIp(ip);
    await deps.limiter.perAccount(userId);
  } catch (err) {
    if (err instanceof RateLimited) return { ok: false, reason: 'rate_limited', retryAfterMs: err.retryAfterMs };
    throw err;
  }
  const stored = await users.currentPassword(app.sql, userId);
  if (!stored) {
    await deps.hasher.verifyDummy(password);
    return { ok: false, reason: 'no_password' };
  }
  const { valid } = await deps.hasher.verify({ hash: stored.hashed_password, version: stored.version }, password);
  return valid ? { ok: true } : { ok: false, reason: 'wrong' };
}

export interface ReauthMethods {
  /** The user has a password, and passwords are on. */
  password: boolean;
  /** Providers the account is linked to (the caller keeps the enabled ones). */
  providerIds: string[];
}

export async function reauthMethods(app: AppContext, user: users.User, directory?: PasswordDirectory): Promise<ReauthMethods> {
  const stored = user.password_source === 'local' ? (await users.currentPassword(app.sql, user.id)) !== undefined : directory !== undefined;
  return { password: app.config.passwords.enabled && stored, providerIds: await upstream.linkedProviderIdsOfUser(app.sql, user.id) };
}

/** This browser signed in again through a provider link of the user within REAUTH_WINDOW_SECONDS. */
export async function reauthenticatedUpstream(app: AppContext, browserSessionId: string, userId: string): Promise<boolean> {
  const at = await upstream.lastSignInOfBrowser(app.sql, browserSessionId, userId);
  return at !== undefined && app.clock.now().getTime() - at.getTime() <= REAUTH_WINDOW_SECONDS * 1000;
}
