// Account operations that span repositories and side effects, each in one transaction with the
// homeserver jobs it causes. Creating an account is create-account.ts.
import type { Sql } from '../storage/db.js';
import * as users from '../storage/users.js';
import { enqueueProvisionUser } from '../jobs/homeserver-jobs.js';
import type { PasswordHasher } from './passwords.js';

export async function setPassword(sql: Sql, hasher: PasswordHasher, userId: string, password: string): Promise<void> {
  const hashed = await hasher.hash(password);
  await users.setPassword(sql, { userId, hashedPassword: hashed.hash, version: hashed.version });
}

/**
 * Locking stops every token at once (introspection checks the flag) and tells the homeserver.
 * Devices stay: unlocking gives the user their sessions back, as in MAS.
 */
export async function setLocked(sql: Sql, userId: string, locked: boolean): Promise<users.User | undefined> {
  return sql.begin(async (tx) => {
    const user = await users.setLocked(tx, userId, locked);
    if (user) await enqueueProvisionUser(tx, user.id);
    return user;
  });
}

/** Whether the user may request admin scopes (`urn:synapse:admin:*`, `urn:mas:admin`); the homeserver hears of it. */
export async function setCanRequestAdmin(sql: Sql, userId: string, admin: boolean): Promise<users.User | undefined> {
  return sql.begin(async (tx) => {
    const user = await users.setCanRequestAdmin(tx, userId, admin);
    if (user) await enqueueProvisionUser(tx, userId);
    return user;
  });
}
