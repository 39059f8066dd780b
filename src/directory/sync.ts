// `mauth manage ldap-sync`: directory accounts whose entry is gone from the directory (deleted,
// moved out of `base_dns`, out of `user_filter`, or disabled in Active Directory) are locked and
// everything they are signed in with ends, in one transaction per account with the jobs that tell
// the homeserver. Locked, their tokens introspect inactive at once; `mauth manage unlock-user`
// undoes it. Nothing is locked when the directory cannot be read completely.
import { endSessionsWithPassword } from '../accounts/sessions.js';
import type { Config } from '../config/types.js';
import { enqueueProvisionUser } from '../jobs/homeserver-jobs.js';
import type { Sql } from '../storage/db.js';
import * as directoryAccounts from '../storage/directory-accounts.js';
import * as users from '../storage/users.js';
import type { DirectoryConnections } from './connections.js';
import { ACCOUNT_CONTROL, DirectoryEntry, isDisabled, userFilter } from './entries.js';

export interface SyncReport {
  /** Directory accounts looked at. */
  checked: number;
  /** Entries within the base DNs and user_filter, not disabled. */
  entries: number;
  /** Usernames locked now (or that would be, with dry-run). */
  locked: string[];
  /** Gone from the directory but locked or deactivated already. */
  alreadyInactive: string[];
}

/** The subjects of every usable entry (one paged search per base DN). */
async function presentSubjects(config: Config, connections: DirectoryConnections): Promise<Set<string>> {
  const { ldap } = config;
  const subjects = new Set<string>();
  for (const base of ldap.base_dns) {
    const raw = await connections.search(base, { scope: 'sub', filter: userFilter(ldap), attributes: [ldap.attributes.localpart, ACCOUNT_CONTROL], paged: true }, false);
    for (const found of raw) {
      const entry = DirectoryEntry.from(found);
      const subject = entry.first(ldap.attributes.localpart)?.trim();
      if (subject && !isDisabled(entry)) subjects.add(directoryAccounts.subjectKey(subject));
    }
  }
  return subjects;
}

export async function syncDirectoryAccounts(sql: Sql, config: Config, connections: DirectoryConnections, options: { dryRun: boolean }): Promise<SyncReport> {
  const present = await presentSubjects(config, connections);
  const accounts = await directoryAccounts.listWithUsers(sql);
  if (present.size === 0 && accounts.length > 0) {
    throw new Error('the directory returned no user entries at all; refusing to lock every directory account (check ldap.base_dns, ldap.user_filter and what the service account may read)');
  }
  const report: SyncReport = { checked: accounts.length, entries: present.size, locked: [], alreadyInactive: [] };
  for (const { user, link } of accounts) {
    if (present.has(link.subject)) continue;
    if (!users.isActive(user)) {
      report.alreadyInactive.push(user.username);
      continue;
    }
    report.locked.push(user.username);
    if (options.dryRun) continue;
    await sql.begin(async (tx) => {
      await users.setLocked(tx, user.id, true);
      await endSessionsWithPassword(tx, user.id);
      await enqueueProvisionUser(tx, user.id);
    });
  }
  return report;
}
