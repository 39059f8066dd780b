// Password login and the bounded password pool (src/accounts/hash-pool.ts), against real
// PostgreSQL: a full pool answers the same for a known and an unknown name (PasswordsBusy, which the
// routes turn into 429), and a right password is not refused because its rehash could not wait.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { pino } from 'pino';
import { authenticatePassword } from '../../src/accounts/authenticate.js';
import { checkOwnPassword } from '../../src/accounts/reauth.js';
import { PasswordsBusy } from '../../src/accounts/hash-pool.js';
import { PasswordHasher } from '../../src/accounts/passwords.js';
import { loginLimiter } from '../../src/accounts/rate-limit.js';
import { FixedClock, systemRandomness } from '../../src/clock.js';
import type { Config } from '../../src/config/types.js';
import type { AppContext } from '../../src/context.js';
import * as users from '../../src/storage/users.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';

const GENEROUS = { burst: 1000, per_second: 100 };
let db: TestDatabase;
let app: AppContext;

before(async () => {
  db = await createTestDatabase('loginpool');
  const config = {
    passwords: { enabled: true },
    account: { login_with_email_allowed: false },
    matrix: { homeserver: 'pool.test' },
    rate_limiting: { login: { per_ip: GENEROUS, per_account: GENEROUS } },
  } as unknown as Config;
  app = { config, sql: db.sql, log: pino({ level: 'silent' }), homeserver: undefined as never, clock: new FixedClock(), random: systemRandomness };
});
after(async () => {
  await db.close();
});

/** Holds the pool's only slot until released. */
function occupy(hasher: PasswordHasher): () => Promise<void> {
  let release!: () => void;
  const held = hasher.pool.run(() => new Promise<void>((resolve) => (release = resolve)));
  return async () => {
    release();
    await held;
  };
}

async function userWithPassword(hasher: PasswordHasher, username: string, password: string) {
  const user = await users.create(db.sql, { username });
  const hashed = await hasher.hash(password);
  await users.setPassword(db.sql, { userId: user.id, hashedPassword: hashed.hash, version: hashed.version });
  return user;
}

test('with the pool full, a known and an unknown name both get PasswordsBusy, never "invalid"', async () => {
  const hasher = new PasswordHasher({ schemes: [{ version: 1, algorithm: 'argon2id' }], max_concurrency: 1, max_queue: 0 });
  await userWithPassword(hasher, 'known', 'known-password');
  const deps = { hasher, limiter: loginLimiter(db.sql, app.config.rate_limiting) };
  const release = occupy(hasher);
  try {
    for (const [name, password] of [['known', 'known-password'], ['known', 'wrong'], ['nobody', 'wrong']]) {
      await assert.rejects(authenticatePassword(app, deps, { kind: 'user', name }, password, '192.0.2.1'), PasswordsBusy, `${name}/${password}`);
    }
  } finally {
    await release();
  }
  // Free again: the same attempts get their real answers.
  assert.equal((await authenticatePassword(app, deps, { kind: 'user', name: 'known' }, 'known-password', '192.0.2.1')).ok, true);
  assert.deepEqual(await authenticatePassword(app, deps, { kind: 'user', name: 'nobody' }, 'wrong', '192.0.2.1'), { ok: false, reason: 'invalid' });
});

test('a right password logs in even when its rehash cannot wait; the upgrade happens at a later login', async () => {
  const old = new PasswordHasher({ schemes: [{ version: 1, algorithm: 'argon2id' }] });
  const user = await userWithPassword(old, 'upgrading', 'upgrading-password');
  const hasher = new PasswordHasher({ schemes: [{ version: 1, algorithm: 'argon2id' }, { version: 2, algorithm: 'argon2id', secret: 'pepper' }], max_concurrency: 1, max_queue: 0 });
  const deps = { hasher, limiter: loginLimiter(db.sql, app.config.rate_limiting) };

  // The moment the verification is done, something else takes the only slot.
  const verify = hasher.verify.bind(hasher);
  let release: (() => Promise<void>) | undefined;
  hasher.verify = async (stored, password) => {
    const result = await verify(stored, password);
    release ??= occupy(hasher);
    return result;
  };
  const outcome = await authenticatePassword(app, deps, { kind: 'user', name: 'upgrading' }, 'upgrading-password', '192.0.2.2');
  assert.ok(release, 'the slot was taken before the rehash');
  await release();
  assert.equal(outcome.ok, true);
  assert.equal((await users.currentPassword(db.sql, user.id))?.version, 1, 'not rehashed while the pool was full');

  hasher.verify = verify;
  assert.equal((await authenticatePassword(app, deps, { kind: 'user', name: 'upgrading' }, 'upgrading-password', '192.0.2.2')).ok, true);
  assert.equal((await users.currentPassword(db.sql, user.id))?.version, 2, 'rehashed once the pool had room');
});

test('a busy answer takes nothing from the login rate limits: after it, the same IP and account still get their tries', async () => {
  // One try per IP and per account, refilled only after an hour: any attempt counted shows.
  const strict = { burst: 1, per_second: 1 / 3600 };
  const strictApp = { ...app, config: { ...app.config, rate_limiting: { login: { per_ip: strict, per_account: strict } } } } as AppContext;
  const hasher = new PasswordHasher({ schemes: [{ version: 1, algorithm: 'argon2id' }], max_concurrency: 1, max_queue: 0 });
  const user = await userWithPassword(hasher, 'patient', 'patient-password');
  const deps = { hasher, limiter: loginLimiter(db.sql, strictApp.config.rate_limiting) };
  const release = occupy(hasher);
  try {
    await assert.rejects(authenticatePassword(strictApp, deps, { kind: 'user', name: 'patient' }, 'patient-password', '192.0.2.30'), PasswordsBusy);
  } finally {
    await release();
  }
  assert.equal((await authenticatePassword(strictApp, deps, { kind: 'user', name: 'patient' }, 'patient-password', '192.0.2.30')).ok, true, 'the retry is not rate limited');

  // Re-entering one's password (deactivation, cross-signing reset, password change) alike; the
  // account's one try went to the login above, so its bucket starts full again.
  await db.sql`DELETE FROM rate_limits WHERE key = ${`login:account:${user.id}`}`;
  const again = occupy(hasher);
  try {
    await assert.rejects(checkOwnPassword(strictApp, deps, user, 'patient-password', '192.0.2.31'), PasswordsBusy);
  } finally {
    await again();
  }
  assert.deepEqual(await checkOwnPassword(strictApp, deps, user, 'patient-password', '192.0.2.31'), { ok: true }, 'the retry is not rate limited');
});
