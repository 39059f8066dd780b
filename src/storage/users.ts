// Users, their e-mail addresses and password hashes.
import { ulid } from 'ulid';
import { asciiLower, emailKey, parseEmailAddress, type EmailAddress } from '../domain/email-address.js';
import type { Db } from './db.js';

export interface User {
  id: string;
  username: string;
  display_name: string | null;
  can_request_admin: boolean;
  locked_at: Date | null;
  deactivated_at: Date | null;
  /** Where the password lives: `local` (user_passwords) or `directory` (src/directory/). */
  password_source: PasswordSource;
  created_at: Date;
}

export type PasswordSource = 'local' | 'directory';

export interface UserEmail {
  id: string;
  user_id: string;
  email: string;
  /** `email` with ASCII A-Z lower-cased (a generated column): what addresses are compared by. */
  email_key: string;
  verified_at: Date | null;
  created_at: Date;
}

export interface UserPassword {
  id: string;
  user_id: string;
  hashed_password: string;
  version: number;
  created_at: Date;
}

export class InvalidEmailError extends Error {
  constructor(readonly problem: string) {
    super(`not a single e-mail address (${problem})`);
  }
}

export class UsernameTakenError extends Error {
  constructor(readonly username: string) {
    super(`username ${username} is already taken`);
  }
}

export function isActive(user: Pick<User, 'locked_at' | 'deactivated_at'>): boolean {
  return !user.locked_at && !user.deactivated_at;
}

export async function findById(db: Db, id: string): Promise<User | undefined> {
  const [user] = await db<User[]>`SELECT * FROM users WHERE id = ${id}`;
  return user;
}

/** Usernames are stored lower-case, so any casing finds the account. */
export async function findByUsername(db: Db, username: string): Promise<User | undefined> {
  const [user] = await db<User[]>`SELECT * FROM users WHERE username = ${username.toLowerCase()}`;
  return user;
}

export async function create(
  db: Db,
  input: { username: string; displayName?: string | null; canRequestAdmin?: boolean },
): Promise<User> {
  const [user] = await db<User[]>`
    INSERT INTO users (id, username, display_name, can_request_admin)
    VALUES (${ulid()}, ${input.username.toLowerCase()}, ${input.displayName ?? null}, ${input.canRequestAdmin ?? false})
    ON CONFLICT (username) DO NOTHING
    RETURNING *`;
  if (!user) throw new UsernameTakenError(input.username.toLowerCase());
  return user;
}

export async function setLocked(db: Db, userId: string, locked: boolean): Promise<User | undefined> {
  const [user] = locked
    ? await db<User[]>`UPDATE users SET locked_at = coalesce(locked_at, now()) WHERE id = ${userId} RETURNING *`
    : await db<User[]>`UPDATE users SET locked_at = NULL WHERE id = ${userId} RETURNING *`;
  return user;
}

export async function setCanRequestAdmin(db: Db, userId: string, value: boolean): Promise<User | undefined> {
  const [user] = await db<User[]>`UPDATE users SET can_request_admin = ${value} WHERE id = ${userId} RETURNING *`;
  return user;
}

/** Where the account's password is checked from now on (a directory link, src/directory/). */
export async function setPasswordSource(db: Db, userId: string, source: PasswordSource): Promise<void> {
  await db`UPDATE users SET password_source = ${source} WHERE id = ${userId}`;
}

export async function setDisplayName(db: Db, userId: string, displayName: string | null): Promise<void> {
  await db`UPDATE users SET display_name = ${displayName} WHERE id = ${userId}`;
}

/**
 * Adds an address (or verifies it, if the user has it already), stored in canonical form.
 * Callers validate what users type first; a string that is not one address is a bug here.
 */
export async function addEmail(
  db: Db,
  input: { userId: string; email: string; verified: boolean },
): Promise<UserEmail> {
  const parsed = parseEmailAddress(input.email);
  if (!parsed.ok) throw new InvalidEmailError(parsed.problem);
  const [row] = await db<UserEmail[]>`
    INSERT INTO user_emails (id, user_id, email, verified_at)
    VALUES (${ulid()}, ${input.userId}, ${parsed.value.address}, CASE WHEN ${input.verified}::boolean THEN now() END)
    ON CONFLICT (user_id, email_key) DO UPDATE
      SET verified_at = coalesce(user_emails.verified_at, excluded.verified_at)
    RETURNING *`;
  return row;
}

/** Removes an address from the account (compared by its normal form); nothing when it has none. */
export async function removeEmail(db: Db, userId: string, email: string): Promise<void> {
  await db`DELETE FROM user_emails WHERE user_id = ${userId} AND email_key = ${emailKey(email) ?? asciiLower(email)}`;
}

export async function listEmails(db: Db, userId: string): Promise<UserEmail[]> {
  return db<UserEmail[]>`SELECT * FROM user_emails WHERE user_id = ${userId} ORDER BY created_at`;
}

export async function verifiedEmails(db: Db, userId: string): Promise<string[]> {
  const rows = await db<{ email: string }[]>`
    SELECT email FROM user_emails WHERE user_id = ${userId} AND verified_at IS NOT NULL ORDER BY created_at`;
  return rows.map((r) => r.email);
}

export async function currentPassword(db: Db, userId: string): Promise<UserPassword | undefined> {
  const [row] = await db<UserPassword[]>`
    SELECT * FROM user_passwords WHERE user_id = ${userId} ORDER BY created_at DESC, id DESC LIMIT 1`;
  return row;
}

export async function setPassword(
  db: Db,
  input: { userId: string; hashedPassword: string; version: number },
): Promise<void> {
  await db`
    INSERT INTO user_passwords (id, user_id, hashed_password, version)
    VALUES (${ulid()}, ${input.userId}, ${input.hashedPassword}, ${input.version})`;
}

/**
 * Users holding this address verified (usually one; several accounts may share an address),
 * each with the address as stored: mail goes there, never to what someone typed.
 */
export async function findByVerifiedEmail(db: Db, address: EmailAddress): Promise<(User & { verified_email: string })[]> {
  return db<(User & { verified_email: string })[]>`
    SELECT u.*, e.email AS verified_email FROM users u JOIN user_emails e ON e.user_id = u.id
    WHERE e.email_key = ${address.key} AND e.verified_at IS NOT NULL`;
}

/** By an identifier of `medium`, ASCII letters compared without case (explicitly: see user_threepids_key). */
export async function findByThreepid(db: Db, medium: string, address: string): Promise<User | undefined> {
  const [user] = await db<User[]>`
    SELECT u.* FROM users u JOIN user_threepids t ON t.user_id = u.id
    WHERE t.medium = ${medium}
      AND translate(t.address, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz') = ${asciiLower(address)}`;
  return user;
}

export async function addThreepid(db: Db, input: { userId: string; medium: string; address: string }): Promise<void> {
  await db`
    INSERT INTO user_threepids (id, user_id, medium, address)
    VALUES (${ulid()}, ${input.userId}, ${input.medium}, ${input.address})`;
}

/** Holds the user's row until the transaction ends: changes to one account's e-mails take turns. */
export async function lockForUpdate(db: Db, userId: string): Promise<User | undefined> {
  const [user] = await db<User[]>`SELECT * FROM users WHERE id = ${userId} FOR UPDATE`;
  return user;
}

/** Removes one of the user's addresses by its id; returns it, or undefined when it is not theirs (any more). */
export async function removeEmailById(db: Db, userId: string, emailId: string): Promise<UserEmail | undefined> {
  const [row] = await db<UserEmail[]>`DELETE FROM user_emails WHERE id = ${emailId} AND user_id = ${userId} RETURNING *`;
  return row;
}

// --- account administration (`mauth manage`, deactivation) ---

/** Sets or clears the deactivation mark (kept if already set, so the first time stays). */
export async function setDeactivated(db: Db, userId: string, deactivated: boolean): Promise<User | undefined> {
  const [user] = deactivated
    ? await db<User[]>`UPDATE users SET deactivated_at = coalesce(deactivated_at, now()) WHERE id = ${userId} RETURNING *`
    : await db<User[]>`UPDATE users SET deactivated_at = NULL WHERE id = ${userId} RETURNING *`;
  return user;
}

/** Forgets every e-mail address and other identifier of the user (deactivation); returns how many. */
export async function removeAllIdentifiers(db: Db, userId: string): Promise<number> {
  const emails = await db`DELETE FROM user_emails WHERE user_id = ${userId} RETURNING 1`;
  const threepids = await db`DELETE FROM user_threepids WHERE user_id = ${userId} RETURNING 1`;
  return emails.length + threepids.length;
}

/** Users who may request admin scopes, by username. */
export async function listAdmins(db: Db): Promise<User[]> {
  return db<User[]>`SELECT * FROM users WHERE can_request_admin ORDER BY username`;
}

/** Up to `limit` user ids after `afterId` in id order: a walk over every user in pages. */
export async function idsAfter(db: Db, afterId: string, limit: number): Promise<string[]> {
  const rows = await db<{ id: string }[]>`SELECT id FROM users WHERE id > ${afterId} ORDER BY id LIMIT ${limit}`;
  return rows.map((r) => r.id);
}

export async function findEmailById(db: Db, id: string): Promise<UserEmail | undefined> {
  const [row] = await db<UserEmail[]>`SELECT * FROM user_emails WHERE id = ${id}`;
  return row;
}

/** Whether any account holds this address (by its key). */
export async function emailInUse(db: Db, emailKey: string): Promise<boolean> {
  const [row] = await db<{ used: boolean }[]>`SELECT EXISTS (SELECT 1 FROM user_emails WHERE email_key = ${emailKey}) AS used`;
  return row.used;
}

export async function deleteEmail(db: Db, id: string): Promise<UserEmail | undefined> {
  const [row] = await db<UserEmail[]>`DELETE FROM user_emails WHERE id = ${id} RETURNING *`;
  return row;
}
