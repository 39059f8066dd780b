// `mauth manage ldap-check <login>`: whether the directory answers, whether the service account
// is accepted, and what a login name resolves to (entry, mapped attributes, the Mauth account),
// without a password. Returns lines to print and whether everything was fine.
import type { Logger } from 'pino';
import type { Config } from '../config/types.js';
import { matrixUserId } from '../domain/usernames.js';
import type { Sql } from '../storage/db.js';
import * as directoryAccounts from '../storage/directory-accounts.js';
import * as users from '../storage/users.js';
import { DirectoryUnavailableError, type DirectoryConnections } from './connections.js';
import { isDisabled } from './entries.js';
import { entryFinder, lookupsFor } from './login.js';
import { mapProfile } from './profile.js';

export interface CheckReport {
  ok: boolean;
  lines: string[];
}

export async function checkConnection(config: Config, connections: DirectoryConnections): Promise<CheckReport> {
  const who = config.ldap.bind_dn === undefined ? 'anonymous searches (no bind_dn)' : `service account ${config.ldap.bind_dn}`;
  try {
    await connections.probe();
    return { ok: true, lines: [`directory: ${connections.describe()}: reachable`, `${who}: accepted`] };
  } catch (err) {
    if (!(err instanceof DirectoryUnavailableError)) throw err;
    if (err.kind === 'service_bind') return { ok: false, lines: [`directory: ${connections.describe()}: reachable`, `${who}: REFUSED: ${err.message}`] };
    return { ok: false, lines: [`directory: ${connections.describe()}: UNAVAILABLE (${err.kind}): ${err.message}`] };
  }
}

async function describeAccount(sql: Sql, config: Config, subject: string, localpart: string): Promise<string> {
  const mxid = (name: string) => matrixUserId(name, config.matrix.homeserver);
  const linked = await directoryAccounts.findUserBySubject(sql, subject);
  if (linked) {
    const state = linked.user.deactivated_at ? ' (deactivated)' : linked.user.locked_at ? ' (locked)' : '';
    return `${mxid(linked.user.username)}, linked to this entry${state}`;
  }
  const existing = await users.findByUsername(sql, localpart);
  if (!existing) return `none yet: the first login creates ${mxid(localpart)}`;
  if (existing.password_source === 'directory') return `${mxid(localpart)} belongs to another directory entry: logins are refused`;
  return config.ldap.on_conflict === 'add'
    ? `${mxid(localpart)} is a local account: the first login links it to this entry (ldap.on_conflict: add)`
    : `${mxid(localpart)} is a local account: logins are refused (ldap.on_conflict: fail)`;
}

export async function checkLogin(sql: Sql, config: Config, connections: DirectoryConnections, log: Logger, login: string): Promise<CheckReport> {
  const { ldap } = config;
  const finder = entryFinder(config, connections, log);
  const candidate = await finder.resolve(lookupsFor(config, { kind: 'user', name: login }));
  if (!candidate) {
    return { ok: false, lines: [`login ${JSON.stringify(login)}: no single entry under ${ldap.base_dns.join('; ')} within ${ldap.user_filter} matches it`] };
  }
  const lines = [`login ${JSON.stringify(login)}:`, `  entry: ${candidate.dn}`];
  const entry = candidate.entry ?? (await finder.read(candidate.dn));
  if (!entry) {
    lines.push('  (direct_bind: the service account cannot read this entry, so its attributes are known only at login)');
    return { ok: true, lines };
  }
  if (isDisabled(entry)) return { ok: false, lines: [...lines, '  disabled in Active Directory (userAccountControl): cannot log in'] };
  const mapped = mapProfile(ldap, entry, config.matrix.homeserver);
  if (!mapped.ok) return { ok: false, lines: [...lines, `  cannot log in: ${mapped.problem}`] };
  const { profile } = mapped;
  lines.push(
    `  ${ldap.attributes.localpart}: ${profile.subject}`,
    `  localpart: ${profile.localpart}`,
    `  display name: ${profile.displayName ?? '(none)'}`,
    `  e-mails: ${profile.emails.join(', ') || '(none)'}`,
    ...Object.entries(profile.threepids).map(([medium, values]) => `  ${medium}: ${values.join(', ') || '(none)'}`),
    `  account: ${await describeAccount(sql, config, profile.subject, profile.localpart)}`,
  );
  return { ok: true, lines };
}
