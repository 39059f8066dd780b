// Registrations in progress, registration tokens, e-mail authentications and their codes,
// recovery tickets. Secrets (URL secrets, codes, tokens, tickets) are stored as hashes only.
import { ulid } from 'ulid';
import type { Db } from './db.js';
import { listPage, type Fragment, type Listing, type Page, type PageRequest } from './admin-queries.js';

export interface Registration {
  id: string;
  username: string;
  hashed_password: string;
  password_version: number;
  email: string | null;
  display_name: string | null;
  next: string | null;
  registration_token_id: string | null;
  email_verified_at: Date | null;
  created_at: Date;
  completed_at: Date | null;
  abandoned_at: Date | null;
}

export async function createRegistration(
  db: Db,
  input: {
    secretHash: string;
    username: string;
    hashedPassword: string;
    passwordVersion: number;
    email: string | null;
    next: string | null;
    ipAddress?: string;
    userAgent?: string;
    /** Its age is judged against the application's clock, so it starts there too. */
    now: Date;
  },
): Promise<Registration> {
  const [row] = await db<Registration[]>`
    INSERT INTO user_registrations (id, secret_hash, username, hashed_password, password_version, email, next, ip_address, user_agent, created_at)
    VALUES (${ulid()}, ${input.secretHash}, ${input.username}, ${input.hashedPassword}, ${input.passwordVersion},
            ${input.email}, ${input.next}, ${input.ipAddress ?? null}, ${input.userAgent ?? null}, ${input.now})
    RETURNING *`;
  return row;
}

/** A registration still in progress (not completed, abandoned or older than a day at `now`). */
export async function findOpenRegistration(db: Db, secretHash: string, now: Date): Promise<Registration | undefined> {
  const [row] = await db<Registration[]>`
    SELECT * FROM user_registrations
    WHERE secret_hash = ${secretHash} AND completed_at IS NULL AND abandoned_at IS NULL
      AND created_at > ${now}::timestamptz - interval '1 day'`;
  return row;
}

export async function setRegistrationToken(db: Db, id: string, tokenId: string): Promise<void> {
  await db`UPDATE user_registrations SET registration_token_id = ${tokenId} WHERE id = ${id}`;
}

export async function setDisplayName(db: Db, id: string, displayName: string | null): Promise<void> {
  await db`UPDATE user_registrations SET display_name = ${displayName} WHERE id = ${id}`;
}

export async function markEmailVerified(db: Db, id: string): Promise<void> {
  await db`UPDATE user_registrations SET email_verified_at = now() WHERE id = ${id}`;
}

export async function abandon(db: Db, id: string): Promise<void> {
  await db`UPDATE user_registrations SET abandoned_at = now(), hashed_password = '' WHERE id = ${id} AND completed_at IS NULL`;
}

/** Marks it completed exactly once (concurrent submissions: one wins). */
export async function complete(db: Db, id: string, userId: string): Promise<boolean> {
  const rows = await db`
    UPDATE user_registrations SET completed_at = now(), user_id = ${userId}, hashed_password = ''
    WHERE id = ${id} AND completed_at IS NULL AND abandoned_at IS NULL RETURNING 1`;
  return rows.length === 1;
}

// --- registration tokens ---

export interface RegistrationToken {
  id: string;
  usage_limit: number | null;
  times_used: number;
  expires_at: Date | null;
  revoked_at: Date | null;
}

export async function createRegistrationToken(
  db: Db,
  input: { tokenHash: string; usageLimit: number | null; expiresAt: Date | null },
): Promise<RegistrationToken> {
  const [row] = await db<RegistrationToken[]>`
    INSERT INTO user_registration_tokens (id, token_hash, usage_limit, expires_at)
    VALUES (${ulid()}, ${input.tokenHash}, ${input.usageLimit}, ${input.expiresAt})
    RETURNING id, usage_limit, times_used, expires_at, revoked_at`;
  return row;
}

/** A token that can still be used (not revoked, expired at `now` or used up). */
export async function findUsableRegistrationToken(db: Db, tokenHash: string, now: Date): Promise<RegistrationToken | undefined> {
  const [row] = await db<RegistrationToken[]>`
    SELECT id, usage_limit, times_used, expires_at, revoked_at FROM user_registration_tokens
    WHERE token_hash = ${tokenHash} AND revoked_at IS NULL
      AND (expires_at IS NULL OR expires_at > ${now})
      AND (usage_limit IS NULL OR times_used < usage_limit)`;
  return row;
}

/** Counts one use, atomically; false when the token was used up, revoked or expired meanwhile. */
export async function useRegistrationToken(db: Db, id: string, now: Date): Promise<boolean> {
  const rows = await db`
    UPDATE user_registration_tokens SET times_used = times_used + 1, last_used_at = now()
    WHERE id = ${id} AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > ${now})
      AND (usage_limit IS NULL OR times_used < usage_limit)
    RETURNING 1`;
  return rows.length === 1;
}

// --- e-mail authentications ---

export interface EmailAuthentication {
  id: string;
  registration_id: string | null;
  user_id: string | null;
  email: string;
  created_at: Date;
  completed_at: Date | null;
}

export async function createEmailAuthentication(
  db: Db,
  input: { email: string; registrationId?: string; userId?: string },
): Promise<EmailAuthentication> {
  const [row] = await db<EmailAuthentication[]>`
    INSERT INTO user_email_authentications (id, registration_id, user_id, email)
    VALUES (${ulid()}, ${input.registrationId ?? null}, ${input.userId ?? null}, ${input.email})
    RETURNING *`;
  return row;
}

export async function findEmailAuthentication(db: Db, id: string): Promise<EmailAuthentication | undefined> {
  const [row] = await db<EmailAuthentication[]>`SELECT * FROM user_email_authentications WHERE id = ${id}`;
  return row;
}

export async function emailAuthenticationForRegistration(db: Db, registrationId: string): Promise<EmailAuthentication | undefined> {
  const [row] = await db<EmailAuthentication[]>`
    SELECT * FROM user_email_authentications WHERE registration_id = ${registrationId} ORDER BY created_at DESC LIMIT 1`;
  return row;
}

export async function addCode(db: Db, authenticationId: string, codeHash: string, expiresAt: Date): Promise<string> {
  const id = ulid();
  await db`
    INSERT INTO user_email_authentication_codes (id, authentication_id, code_hash, expires_at)
    VALUES (${id}, ${authenticationId}, ${codeHash}, ${expiresAt})`;
  return id;
}

export type CodeCheck = 'valid' | 'expired' | 'wrong';

/** After too many wrong codes: no code of this authentication works any more. */
export async function dropCodes(db: Db, authenticationId: string): Promise<void> {
  await db`DELETE FROM user_email_authentication_codes WHERE authentication_id = ${authenticationId}`;
}

/** Checks a code at `now` and, when valid, completes the authentication (once). */
export async function checkCode(db: Db, authenticationId: string, codeHash: string, now: Date): Promise<CodeCheck> {
  const [row] = await db<{ expired: boolean }[]>`
    SELECT expires_at <= ${now} AS expired FROM user_email_authentication_codes
    WHERE authentication_id = ${authenticationId} AND code_hash = ${codeHash}
    ORDER BY expires_at DESC LIMIT 1`;
  if (!row) return 'wrong';
  if (row.expired) return 'expired';
  const done = await db`
    UPDATE user_email_authentications SET completed_at = now()
    WHERE id = ${authenticationId} AND completed_at IS NULL RETURNING 1`;
  return done.length === 1 ? 'valid' : 'wrong';
}

// --- recovery tickets ---

export async function createRecoveryTicket(
  db: Db,
  input: { ticketHash: string; userId: string; email: string; expiresAt: Date },
): Promise<string> {
  const id = ulid();
  await db`
    INSERT INTO user_recovery_tickets (id, ticket_hash, user_id, email, expires_at)
    VALUES (${id}, ${input.ticketHash}, ${input.userId}, ${input.email}, ${input.expiresAt})`;
  return id;
}

export async function findUsableRecoveryTicket(db: Db, ticketHash: string, now: Date): Promise<{ id: string; user_id: string } | undefined> {
  const [row] = await db<{ id: string; user_id: string }[]>`
    SELECT id, user_id FROM user_recovery_tickets
    WHERE ticket_hash = ${ticketHash} AND consumed_at IS NULL AND expires_at > ${now}`;
  return row;
}

/** Takes the ticket once; undefined when it was used, expired at `now` or never existed. */
export async function consumeRecoveryTicket(db: Db, ticketHash: string, now: Date): Promise<{ id: string; user_id: string } | undefined> {
  const [row] = await db<{ id: string; user_id: string }[]>`
    UPDATE user_recovery_tickets SET consumed_at = now()
    WHERE ticket_hash = ${ticketHash} AND consumed_at IS NULL AND expires_at > ${now}
    RETURNING id, user_id`;
  return row;
}

/** Spends every open ticket of the user (after a successful reset); returns how many. */
export async function consumeAllRecoveryTickets(db: Db, userId: string): Promise<number> {
  const rows = await db`
    UPDATE user_recovery_tickets SET consumed_at = now()
    WHERE user_id = ${userId} AND consumed_at IS NULL
    RETURNING 1`;
  return rows.length;
}

/** Drops the codes of the user's address checks still in progress (no code of them works then). */
export async function dropPendingEmailCodes(db: Db, userId: string): Promise<void> {
  await db`
    DELETE FROM user_email_authentication_codes
    WHERE authentication_id IN (
      SELECT id FROM user_email_authentications WHERE user_id = ${userId} AND completed_at IS NULL)`;
}

// --- registration tokens, as the admin API manages them ---

export interface RegistrationTokenRow extends RegistrationToken {
  /** The token sealed with `secrets.encryption` (null for tokens created without it). */
  sealed_token: string | null;
  created_at: Date;
  last_used_at: Date | null;
}

export interface RegistrationTokenFilter {
  used?: boolean;
  revoked?: boolean;
  /** Expired at `now`. */
  expired?: boolean;
  /** Usable at `now`: not revoked, expired or used up. */
  valid?: boolean;
  now: Date;
}

export function registrationTokensListing(db: Db, f: RegistrationTokenFilter): Listing {
  const where: Fragment[] = [];
  const expired = db`t.expires_at IS NOT NULL AND t.expires_at <= ${f.now}`;
  const valid = db`t.revoked_at IS NULL AND NOT (${expired}) AND (t.usage_limit IS NULL OR t.times_used < t.usage_limit)`;
  if (f.used !== undefined) where.push(f.used ? db`t.times_used > 0` : db`t.times_used = 0`);
  if (f.revoked !== undefined) where.push(f.revoked ? db`t.revoked_at IS NOT NULL` : db`t.revoked_at IS NULL`);
  if (f.expired !== undefined) where.push(f.expired ? expired : db`NOT (${expired})`);
  if (f.valid !== undefined) where.push(f.valid ? valid : db`NOT (${valid})`);
  return { source: db`user_registration_tokens`, where };
}

export function listRegistrationTokens(db: Db, filter: RegistrationTokenFilter, page: PageRequest): Promise<Page<RegistrationTokenRow>> {
  return listPage<RegistrationTokenRow>(db, registrationTokensListing(db, filter), page);
}

/** Undefined when a token with this hash exists already. */
export async function addRegistrationToken(
  db: Db,
  input: { tokenHash: string; sealedToken: string; usageLimit: number | null; expiresAt: Date | null; now: Date },
): Promise<RegistrationTokenRow | undefined> {
  const [row] = await db<RegistrationTokenRow[]>`
    INSERT INTO user_registration_tokens (id, token_hash, sealed_token, usage_limit, expires_at, created_at)
    VALUES (${ulid()}, ${input.tokenHash}, ${input.sealedToken}, ${input.usageLimit}, ${input.expiresAt}, ${input.now})
    ON CONFLICT (token_hash) DO NOTHING
    RETURNING id, sealed_token, usage_limit, times_used, created_at, last_used_at, expires_at, revoked_at`;
  return row;
}

export async function findRegistrationTokenById(db: Db, id: string): Promise<RegistrationTokenRow | undefined> {
  const [row] = await db<RegistrationTokenRow[]>`
    SELECT id, sealed_token, usage_limit, times_used, created_at, last_used_at, expires_at, revoked_at
    FROM user_registration_tokens WHERE id = ${id}`;
  return row;
}

/**
 * Sets the fields given (a null removes the expiry or the limit); undefined for an unknown id or
 * a limit below the uses already counted.
 */
export async function updateRegistrationToken(
  db: Db,
  id: string,
  change: { expiresAt?: Date | null; usageLimit?: number | null; revokedAt?: Date | null },
): Promise<RegistrationTokenRow | undefined> {
  const [row] = await db<RegistrationTokenRow[]>`
    UPDATE user_registration_tokens SET
      expires_at = CASE WHEN ${'expiresAt' in change} THEN ${change.expiresAt ?? null}::timestamptz ELSE expires_at END,
      usage_limit = CASE WHEN ${'usageLimit' in change} THEN ${change.usageLimit ?? null}::int ELSE usage_limit END,
      revoked_at = CASE WHEN ${'revokedAt' in change} THEN ${change.revokedAt ?? null}::timestamptz ELSE revoked_at END
    WHERE id = ${id} AND (${change.usageLimit ?? null}::int IS NULL OR times_used <= ${change.usageLimit ?? null}::int)
    RETURNING id, sealed_token, usage_limit, times_used, created_at, last_used_at, expires_at, revoked_at`;
  return row;
}
