// The Mauth account a directory entry signs in to, once the directory has accepted its password:
// the account linked to the entry (its display name and e-mails brought in line with the
// directory, and sent to the homeserver when they changed), a local account of the same name
// claimed under `ldap.on_conflict: add`, or a new account (the homeserver asked first). Each
// change is one transaction with the provision_user job it causes.
import type { LoginOutcome } from '../accounts/authenticate.js';
import { createAccount, InvalidUsernameError } from '../accounts/create-account.js';
import type { AppContext } from '../context.js';
import { emailKey } from '../domain/email-address.js';
import { enqueueProvisionUser } from '../jobs/homeserver-jobs.js';
import type { Tx } from '../storage/db.js';
import * as directoryAccounts from '../storage/directory-accounts.js';
import * as users from '../storage/users.js';
import type { DirectoryProfile } from './profile.js';

type Outcome = LoginOutcome;

const refused = (message: string): Outcome => ({ ok: false, reason: 'refused', message });

class LinkTaken extends Error {}

const key = (address: string) => emailKey(address) ?? address.toLowerCase();

/**
 * Brings the account's display name and directory e-mails in line with the entry. Addresses the
 * user added themselves stay; a display name the directory does not have is left as it is.
 * Whether the homeserver needs to hear of it.
 */
async function applyProfile(tx: Tx, user: users.User, imported: string[], profile: DirectoryProfile, dn: string, at: Date): Promise<boolean> {
  let changed = false;
  if (profile.displayName !== undefined && profile.displayName !== user.display_name) {
    await users.setDisplayName(tx, user.id, profile.displayName);
    changed = true;
  }
  const now = new Set(profile.emails.map(key));
  const before = new Set(imported.map(key));
  for (const address of imported) {
    if (now.has(key(address))) continue;
    await users.removeEmail(tx, user.id, address);
    changed = true;
  }
  for (const address of profile.emails) {
    if (before.has(key(address))) continue;
    await users.addEmail(tx, { userId: user.id, email: address, verified: true });
    changed = true;
  }
  await directoryAccounts.recordSync(tx, user.id, { dn, importedEmails: profile.emails, at });
  return changed;
}

function inactive(user: users.User): Outcome | undefined {
  if (user.deactivated_at) return { ok: false, reason: 'deactivated' };
  if (user.locked_at) return { ok: false, reason: 'locked' };
  return undefined;
}

async function signedIn(app: AppContext, userId: string): Promise<Outcome> {
  const user = await users.findById(app.sql, userId);
  return user ? { ok: true, user } : refused('The account was removed meanwhile. Try again.');
}

/** Links an existing local account (`on_conflict: add`) or a new one to the entry, in `tx`. */
async function linkInTx(tx: Tx, userId: string, profile: DirectoryProfile, dn: string): Promise<void> {
  await users.setPasswordSource(tx, userId, 'directory');
  if (!(await directoryAccounts.link(tx, { userId, subject: profile.subject, dn, importedEmails: [] }))) throw new LinkTaken();
}

export async function settleAccount(app: AppContext, dn: string, profile: DirectoryProfile, retried = false): Promise<Outcome> {
  const { log, config } = app;
  const linked = await directoryAccounts.findUserBySubject(app.sql, profile.subject);
  if (linked) {
    const stop = inactive(linked.user);
    if (stop) return stop;
    const changed = await app.sql.begin(async (tx) => {
      const fresh = await applyProfile(tx, linked.user, linked.link.imported_emails, profile, dn, app.clock.now());
      if (fresh) await enqueueProvisionUser(tx, linked.user.id);
      return fresh;
    });
    if (changed) log.info({ user_id: linked.user.id, dn }, 'directory profile changed: sent to the homeserver');
    return signedIn(app, linked.user.id);
  }

  const existing = await users.findByUsername(app.sql, profile.localpart);
  if (existing) {
    if (existing.password_source === 'directory') {
      log.warn({ dn, username: existing.username }, 'directory login refused: the localpart belongs to an account linked to another entry');
      return refused(`The username ${existing.username} belongs to another directory account. Ask an administrator.`);
    }
    if (config.ldap.on_conflict === 'fail') {
      log.warn({ dn, username: existing.username }, 'directory login refused: a local account has the localpart (ldap.on_conflict: fail)');
      return refused(`An account named ${existing.username} already exists here and is not linked to the directory. Ask an administrator to link it.`);
    }
    const stop = inactive(existing);
    if (stop) return stop;
    try {
      await app.sql.begin(async (tx) => {
        await linkInTx(tx, existing.id, profile, dn);
        await applyProfile(tx, existing, [], profile, dn, app.clock.now());
        await enqueueProvisionUser(tx, existing.id);
      });
    } catch (err) {
      if (err instanceof LinkTaken && !retried) return settleAccount(app, dn, profile, true);
      throw err;
    }
    log.info({ user_id: existing.id, dn }, 'local account linked to its directory entry (ldap.on_conflict: add)');
    return signedIn(app, existing.id);
  }

  const availability = await app.homeserver.isLocalpartAvailable(profile.localpart);
  if (!availability.available) {
    log.warn({ dn, localpart: profile.localpart, errcode: availability.errcode }, 'directory login refused: the homeserver does not give out the localpart');
    return refused(`The username ${profile.localpart} is not available on this homeserver. Ask an administrator.`);
  }
  try {
    const created = await app.sql.begin(async (tx) => {
      const { user } = await createAccount(tx, {
        username: profile.localpart,
        displayName: profile.displayName ?? null,
        emails: profile.emails.map((address) => ({ address, verified: true })),
      });
      await linkInTx(tx, user.id, profile, dn);
      await directoryAccounts.recordSync(tx, user.id, { dn, importedEmails: profile.emails, at: app.clock.now() });
      return user;
    });
    log.info({ user_id: created.id, username: created.username, dn }, 'account created from the directory');
    return signedIn(app, created.id);
  } catch (err) {
    // Another login of the same user (or a registration) got there first: look again once.
    if ((err instanceof users.UsernameTakenError || err instanceof LinkTaken) && !retried) return settleAccount(app, dn, profile, true);
    if (err instanceof InvalidUsernameError) return refused(`The directory gives this account the username ${profile.localpart}, which Matrix does not allow.`);
    throw err;
  }
}
