// Account operations that span repositories and side effects, each in one transaction with the
// homeserver jobs it causes.
import type { Sql } from '../storage/db.js';
import * as users from '../storage/users.js';
import { enqueueProvisionUser } from '../jobs/homeserver-jobs.js';
import type { PasswordHasher } from './passwords.js';
import { validateUsername } from '../domain/usernames.js';

export interface RegisterUserInput {
  username: string;
  password?: string;
  email?: string;
  admin?: boolean;
  displayName?: string;
}

export async function registerUser(sql: Sql, hasher: PasswordHasher, input: RegisterUserInput): Promise<users.User> {
  const username = input.username.toLowerCase();
  const problem = validateUsername(username);
  if (problem) throw new Error(problem);
  const hashed = input.password !== undefined ? await hasher.hash(input.password) : undefined;
  return sql.begin(async (tx) => {
    const user = await users.create(tx, {
      username,
      displayName: input.displayName ?? null,
      canRequestAdmin: input.admin ?? false,
    });
    if (hashed) await users.setPassword(tx, { userId: user.id, hashedPassword: hashed.hash, version: hashed.version });
    if (input.email) await users.addEmail(tx, { userId: user.id, email: input.email, verified: true });
    await enqueueProvisionUser(tx, user.id);
    return user;
  });
}

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
