// Creating an account: the one way every path makes one (password registration, upstream
// registration, `mauth manage register-user`; LDAP, the admin API and migrations later). It runs
// in the caller's transaction, so whatever else the caller writes with it (a completed
// registration, a used registration token, a signed-in browser) commits or rolls back with the
// account, and the homeserver hears of the account only through the provision_user job queued in
// that same transaction.
import { parseEmailAddress } from '../domain/email-address.js';
import { validateUsername } from '../domain/usernames.js';
import { enqueueProvisionUser } from '../jobs/homeserver-jobs.js';
import type { Tx } from '../storage/db.js';
import * as upstream from '../storage/upstream.js';
import * as users from '../storage/users.js';

export interface NewAccount {
  /**
   * The localpart, stored lower-case. Callers apply their registration policy and ask the
   * homeserver first; this only refuses a name no homeserver would take.
   */
  username: string;
  displayName?: string | null;
  /** May request admin scopes (`urn:synapse:admin:*`). */
  canRequestAdmin?: boolean;
  /** Already hashed: hashing is slow, so it happens before the transaction opens. */
  password?: { hash: string; version: number };
  /** Single addresses, stored in canonical form (domain/email-address.ts). */
  emails?: { address: string; verified: boolean }[];
  upstreamLinks?: NewUpstreamLink[];
}

export interface NewUpstreamLink {
  providerId: string;
  subject: string;
  humanAccountName?: string | null;
  /** The address a forced e-mail import brought, which later sign-ins replace when the provider's changes. */
  importedEmail?: string | null;
}

export interface CreatedAccount {
  user: users.User;
  /** In the order of `upstreamLinks`. */
  links: upstream.LinkRow[];
}

export class InvalidUsernameError extends Error {
  override readonly name = 'InvalidUsernameError';
}

/** The upstream subject is linked to an account already (maybe since the caller looked). */
export class SubjectAlreadyLinkedError extends Error {
  override readonly name = 'SubjectAlreadyLinkedError';
  constructor(
    readonly providerId: string,
    readonly subject: string,
  ) {
    super(`the subject ${JSON.stringify(subject)} of provider ${providerId} is already linked to another account`);
  }
}

function canonical(address: string): string {
  const parsed = parseEmailAddress(address);
  if (!parsed.ok) throw new users.InvalidEmailError(parsed.problem);
  return parsed.value.address;
}

/**
 * Throws InvalidUsernameError, users.UsernameTakenError, users.InvalidEmailError or
 * SubjectAlreadyLinkedError; the caller's transaction is then to be rolled back (throwing out of
 * `sql.begin` does that).
 */
export async function createAccount(tx: Tx, account: NewAccount): Promise<CreatedAccount> {
  const username = account.username.toLowerCase();
  const problem = validateUsername(username);
  if (problem) throw new InvalidUsernameError(problem);
  const emails = (account.emails ?? []).map((e) => ({ address: canonical(e.address), verified: e.verified }));
  const linksWanted = (account.upstreamLinks ?? []).map((l) => ({ ...l, importedEmail: l.importedEmail ? canonical(l.importedEmail) : null }));

  const user = await users.create(tx, { username, displayName: account.displayName ?? null, canRequestAdmin: account.canRequestAdmin ?? false });
  if (account.password) await users.setPassword(tx, { userId: user.id, hashedPassword: account.password.hash, version: account.password.version });
  for (const email of emails) await users.addEmail(tx, { userId: user.id, email: email.address, verified: email.verified });
  const links: upstream.LinkRow[] = [];
  for (const wanted of linksWanted) {
    const link = await upstream.createLink(tx, { ...wanted, userId: user.id });
    if (!link) throw new SubjectAlreadyLinkedError(wanted.providerId, wanted.subject);
    links.push(link);
  }
  await enqueueProvisionUser(tx, user.id);
  return { user, links };
}
