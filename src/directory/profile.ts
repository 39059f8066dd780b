// What an entry means for its Matrix account (`ldap.attributes`, `ldap.localpart_template`): the
// subject that identifies the entry, the localpart, the display name, the e-mail addresses and the
// third-party identifiers. Pure: no connection, no database.
import { renderTemplate, type ClaimsContext } from '../domain/claims-template/index.js';
import { parseEmailAddress } from '../domain/email-address.js';
import { validateUsername } from '../domain/usernames.js';
import type { LdapConfig } from './connections.js';
import { templateNames, type DirectoryEntry } from './entries.js';

export interface DirectoryProfile {
  /** The entry's value of `attributes.localpart`: what finds the entry again. */
  subject: string;
  localpart: string;
  displayName?: string;
  /** Canonical single addresses (values that are not one address are left out). */
  emails: string[];
  /** Medium → values, from `attributes.threepids`. */
  threepids: Record<string, string[]>;
}

export type MappedProfile = { ok: true; profile: DirectoryProfile } | { ok: false; problem: string };

/** The template context: `user.<attribute>` is the attribute's first value. */
export function templateContext(config: LdapConfig, entry: DirectoryEntry): ClaimsContext {
  const user: Record<string, unknown> = { dn: entry.dn };
  for (const name of templateNames(config)) {
    const value = entry.first(name);
    if (value !== undefined) user[name] = value;
  }
  return { user };
}

export function mapProfile(config: LdapConfig, entry: DirectoryEntry, serverName: string): MappedProfile {
  const { attributes } = config;
  const subject = entry.first(attributes.localpart)?.trim();
  if (!subject) return { ok: false, problem: `the entry has no ${attributes.localpart}` };
  let localpart = subject.toLowerCase();
  if (config.localpart_template !== undefined) {
    const rendered = renderTemplate('localpart', config.localpart_template, templateContext(config, entry));
    if (!rendered.ok) return { ok: false, problem: `ldap.localpart_template: ${rendered.error.reason}` };
    if (rendered.value === undefined) return { ok: false, problem: 'ldap.localpart_template gave an empty localpart' };
    localpart = rendered.value.toLowerCase();
  }
  const invalid = validateUsername(localpart, serverName);
  if (invalid) return { ok: false, problem: `the localpart ${JSON.stringify(localpart)} is not a valid Matrix username (${invalid})` };

  const emails: string[] = [];
  for (const value of entry.values(attributes.email)) {
    const parsed = parseEmailAddress(value.trim());
    if (parsed.ok && !emails.some((e) => e.toLowerCase() === parsed.value.address.toLowerCase())) emails.push(parsed.value.address);
  }
  const threepids: Record<string, string[]> = {};
  for (const [medium, names] of Object.entries(attributes.threepids)) {
    threepids[medium] = names.flatMap((name) => entry.values(name)).filter((v) => v.trim() !== '');
  }
  const displayName = entry.first(attributes.display_name)?.trim();
  return { ok: true, profile: { subject, localpart, ...(displayName ? { displayName } : {}), emails, threepids } };
}
