// Password login, shared by the browser form and the legacy `/login` API: which account a login
// name means (username in any case, full MXID, verified e-mail, rewrite rules), rate limits,
// and the password check with rehash-on-login.
import type { AppContext } from '../context.js';
import { parseEmailAddress } from '../domain/email-address.js';
import { localpartFromLogin } from '../domain/usernames.js';
import { RateLimited, type LoginLimiter } from './rate-limit.js';
import * as users from '../storage/users.js';
import type { PasswordHasher } from './passwords.js';

export type LoginIdentifier =
  | { kind: 'user'; name: string }
  | { kind: 'thirdparty'; medium: string; address: string };

export type LoginOutcome =
  | { ok: true; user: users.User }
  | { ok: false; reason: 'invalid' | 'locked' | 'deactivated' | 'disabled' }
  | { ok: false; reason: 'rate_limited'; retryAfterMs: number };

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
  deps: { hasher: PasswordHasher; limiter: LoginLimiter },
  identifier: LoginIdentifier,
  password: string,
  ip: string | undefined,
): Promise<LoginOutcome> {
  if (!app.config.passwords.enabled) return { ok: false, reason: 'disabled' };
  const { hasher, limiter } = deps;
  try {
    await limiter.perIp(ip);
    const user = await findLoginUser(app, identifier);
    if (user) await limiter.perAccount(user.id);
    const stored = user ? await users.currentPassword(app.sql, user.id) : undefined;
    if (!user || !stored) {
      await hasher.verifyDummy(password);
      return { ok: false, reason: 'invalid' };
    }
    const { valid, needsRehash } = await hasher.verify({ hash: stored.hashed_password, version: stored.version }, password);
    if (!valid) return { ok: false, reason: 'invalid' };
    if (user.deactivated_at) return { ok: false, reason: 'deactivated' };
    if (user.locked_at) return { ok: false, reason: 'locked' };
    if (needsRehash) {
      const rehashed = await hasher.hash(password);
      await users.setPassword(app.sql, { userId: user.id, hashedPassword: rehashed.hash, version: rehashed.version });
    }
    return { ok: true, user };
  } catch (err) {
    if (err instanceof RateLimited) return { ok: false, reason: 'rate_limited', retryAfterMs: err.retryAfterMs };
    throw err;
  }
}
