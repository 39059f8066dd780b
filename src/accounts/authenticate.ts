// Password login, shared by the browser form and the legacy `/login` API: which account a login
// name means (username in any case, full MXID, verified e-mail, rewrite rules), rate limits,
// and the password check with rehash-on-login. An account's password lives either here or in
// the directory (`users.password_source`); with `ldap` enabled, names that no local account
// answers go to the directory (src/directory/, handed in as a PasswordDirectory).
import type { AppContext } from '../context.js';
import { parseEmailAddress } from '../domain/email-address.js';
import { localpartFromLogin } from '../domain/usernames.js';
import { RateLimited, type LoginLimiter } from './rate-limit.js';
import * as users from '../storage/users.js';
import { PasswordsBusy } from './hash-pool.js';
import type { PasswordHasher } from './passwords.js';

export type LoginIdentifier =
  | { kind: 'user'; name: string }
  | { kind: 'thirdparty'; medium: string; address: string };

export type LoginOutcome =
  | { ok: true; user: users.User }
  | { ok: false; reason: 'invalid' | 'locked' | 'deactivated' | 'disabled' }
  | { ok: false; reason: 'rate_limited'; retryAfterMs: number }
  /** The directory did not answer in time: try again shortly. */
  | { ok: false; reason: 'unavailable' }
  /** The directory knows the user, but the account cannot be theirs (the name is taken, ...): `message` says why. */
  | { ok: false; reason: 'refused'; message: string };

export type LoginFailure = Exclude<LoginOutcome, { ok: true }>;

async function byEmail(app: AppContext, address: string): Promise<users.User | undefined> {
  if (!app.config.account.login_with_email_allowed) return undefined;
  // The same comparison as recovery: a look-alike of an address names nobody.
  const parsed = parseEmailAddress(address);
  if (!parsed.ok) return undefined;
  const found = await users.findByVerifiedEmail(app.sql, parsed.value);
  // An address shared by several accounts names none of them.
  return found.length === 1 ? found[0] : undefined;
}

async function byMedium(app: AppContext, medium: string, address: string): Promise<users.User | undefined> {
  return medium === 'email' ? byEmail(app, address) : users.findByThreepid(app.sql, medium, address);
}

export interface DirectoryLogin {
  identifier: LoginIdentifier;
  /** Never empty. */
  password: string;
  hasher: PasswordHasher;
  limiter: LoginLimiter;
}

/** Passwords kept in an LDAP directory (src/directory/login.ts). */
export interface PasswordDirectory {
  /**
   * A login no local account answers: `account` is the directory account the identifier named
   * locally, if any. Counts the attempt against the account before the password is checked.
   */
  authenticate(login: DirectoryLogin & { account?: users.User }): Promise<LoginOutcome>;
  /**
   * The local password of `account` was wrong: the name may be a directory user's (whose login
   * a local account must not shadow), or that entry may claim `account` (`ldap.on_conflict`).
   * Undefined when the directory has nothing to say (or cannot be reached).
   */
  claim(login: DirectoryLogin & { account: users.User }): Promise<LoginOutcome | undefined>;
}

/** The account a login identifier names, if any. */
export async function findLoginUser(app: AppContext, identifier: LoginIdentifier): Promise<users.User | undefined> {
  if (identifier.kind === 'thirdparty') return byMedium(app, identifier.medium, identifier.address.trim());
  const name = identifier.name.trim();
  for (const rule of app.config.username_rewrite?.rules ?? []) {
    if (new RegExp(`^(?:${rule.regex})$`).test(name)) {
      const user = await byMedium(app, rule.medium, name);
      if (user) return user;
    }
  }
  if (!name.startsWith('@') && name.includes('@')) return byEmail(app, name);
  const localpart = localpartFromLogin(name, app.config.matrix.homeserver);
  return localpart ? users.findByUsername(app.sql, localpart) : undefined;
}

export async function authenticatePassword(
  app: AppContext,
  deps: { hasher: PasswordHasher; limiter: LoginLimiter; directory?: PasswordDirectory },
  identifier: LoginIdentifier,
  password: string,
  ip: string | undefined,
): Promise<LoginOutcome> {
  if (!app.config.passwords.enabled) return { ok: false, reason: 'disabled' };
  const { hasher, limiter, directory } = deps;
  // A full pool answers busy before anything counts against the IP or the account.
  hasher.pool.refuseIfFull();
  try {
    await limiter.perIp(ip);
    // An empty password proves nothing (to a directory it is an anonymous bind, which succeeds).
    if (password === '') return { ok: false, reason: 'invalid' };
    // PostgreSQL text cannot hold NUL, so no account (local or directory) has it in its name.
    if (Object.values(identifier).some((value) => value.includes('\u0000'))) {
      await hasher.verifyDummy(password);
      return { ok: false, reason: 'invalid' };
    }
    const user = await findLoginUser(app, identifier);
    if (directory && user?.password_source !== 'local') return await directory.authenticate({ identifier, password, hasher, limiter, account: user });
    if (user) await limiter.perAccount(user.id);
    // A directory account's password is never checked here, even if a local hash is left over.
    const stored = user?.password_source === 'local' ? await users.currentPassword(app.sql, user.id) : undefined;
    if (!user || !stored) {
      await hasher.verifyDummy(password);
      return { ok: false, reason: 'invalid' };
    }
    const { valid, needsRehash } = await hasher.verify({ hash: stored.hashed_password, version: stored.version }, password);
    if (!valid) return (await directory?.claim({ identifier, password, hasher, limiter, account: user })) ?? { ok: false, reason: 'invalid' };
    if (user.deactivated_at) return { ok: false, reason: 'deactivated' };
    if (user.locked_at) return { ok: false, reason: 'locked' };
    if (needsRehash) {
      try {
        const rehashed = await hasher.hash(password);
        await users.setPassword(app.sql, { userId: user.id, hashedPassword: rehashed.hash, version: rehashed.version });
      } catch (err) {
        // The password was right: a full pool only puts the upgrade off to the next login.
        if (!(err instanceof PasswordsBusy)) throw err;
      }
    }
    return { ok: true, user };
  } catch (err) {
    if (err instanceof RateLimited) return { ok: false, reason: 'rate_limited', retryAfterMs: err.retryAfterMs };
    throw err;
  }
}
