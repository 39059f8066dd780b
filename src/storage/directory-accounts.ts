// Accounts whose password lives in the directory (src/directory/): the entry each belongs to and
// what the directory last gave it.
import { asciiLower } from '../domain/email-address.js';
import type { Db } from './db.js';
import type { User } from './users.js';

export interface DirectoryAccount {
  user_id: string;
  /** The entry's localpart attribute, ASCII letters lower-cased. */
  subject: string;
  dn: string;
  imported_emails: string[];
  created_at: Date;
  synced_at: Date;
}

/** The form subjects are stored and compared in: LDAP compares uid-like attributes without case. */
export function subjectKey(subject: string): string {
  return asciiLower(subject);
}

export async function findByUser(db: Db, userId: string): Promise<DirectoryAccount | undefined> {
  const [row] = await db<DirectoryAccount[]>`SELECT * FROM directory_accounts WHERE user_id = ${userId}`;
  return row;
}

export interface LinkedUser {
  user: User;
  link: DirectoryAccount;
}

type JoinedRow = User & { d_subject: string; d_dn: string; d_imported_emails: string[]; d_created_at: Date; d_synced_at: Date };

function split(row: JoinedRow): LinkedUser {
  const { d_subject: subject, d_dn: dn, d_imported_emails: importedEmails, d_created_at: createdAt, d_synced_at: syncedAt, ...user } = row;
  return { user, link: { user_id: user.id, subject, dn, imported_emails: importedEmails, created_at: createdAt, synced_at: syncedAt } };
}

export async function findUserBySubject(db: Db, subject: string): Promise<LinkedUser | undefined> {
  const [row] = await db<JoinedRow[]>`
    SELECT u.*, d.subject AS d_subject, d.dn AS d_dn, d.imported_emails AS d_imported_emails, d.created_at AS d_created_at, d.synced_at AS d_synced_at
    FROM directory_accounts d JOIN users u ON u.id = d.user_id
    WHERE d.subject = ${subjectKey(subject)}`;
  return row && split(row);
}

/**
 * Links the account to the entry (in the transaction that creates or claims it); false when the
 * subject belongs to another account already.
 */
export async function link(db: Db, input: { userId: string; subject: string; dn: string; importedEmails: string[] }): Promise<boolean> {
  const rows = await db`
    INSERT INTO directory_accounts (user_id, subject, dn, imported_emails)
    VALUES (${input.userId}, ${subjectKey(input.subject)}, ${input.dn}, ${input.importedEmails})
    ON CONFLICT DO NOTHING
    RETURNING user_id`;
  return rows.length === 1;
}

/** What a login found in the directory: the entry's DN now and the addresses it gave. */
export async function recordSync(db: Db, userId: string, input: { dn: string; importedEmails: string[]; at: Date }): Promise<void> {
  await db`
    UPDATE directory_accounts SET dn = ${input.dn}, imported_emails = ${input.importedEmails}, synced_at = ${input.at}
    WHERE user_id = ${userId}`;
}

/** Every directory account with its user, for ldap-sync. */
export async function listWithUsers(db: Db): Promise<LinkedUser[]> {
  const rows = await db<JoinedRow[]>`
    SELECT u.*, d.subject AS d_subject, d.dn AS d_dn, d.imported_emails AS d_imported_emails, d.created_at AS d_created_at, d.synced_at AS d_synced_at
    FROM directory_accounts d JOIN users u ON u.id = d.user_id
    ORDER BY u.username`;
  return rows.map(split);
}
