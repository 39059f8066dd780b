// Login rate limits as MAS configures them (`rate_limiting.login`). The per-IP bucket is checked
// first and the per-account bucket only for requests that passed it, so one address can drain an
// account's allowance no faster than its own limit: an attacker cannot lock a victim out beyond
// what the per-IP rate lets through.
import type { RateLimit, RateLimitingConfig } from '../config/types.js';
import type { Db } from '../storage/db.js';
import { take } from '../storage/rate-limits.js';

export class RateLimited extends Error {
  constructor(readonly retryAfterMs: number) {
    super('too many requests');
  }
}

async function check(db: Db, key: string, limit: RateLimit): Promise<void> {
  const result = await take(db, key, limit.burst, limit.per_second);
  if (!result.allowed) throw new RateLimited(result.retryAfterMs);
}

export function loginLimiter(db: Db, config: RateLimitingConfig) {
  return {
    /** Before anything else is looked at. */
    async perIp(ip: string | undefined): Promise<void> {
      await check(db, `login:ip:${ip ?? 'unknown'}`, config.login.per_ip);
    },
    /** Once the account is known, before its password is checked. */
    async perAccount(userId: string): Promise<void> {
      await check(db, `login:account:${userId}`, config.login.per_account);
    },
  };
}

export type LoginLimiter = ReturnType<typeof loginLimiter>;

/** Takes one action from the bucket `key`, or throws RateLimited. */
export async function limit(db: Db, key: string, rate: RateLimit): Promise<void> {
  await check(db, key, rate);
}
