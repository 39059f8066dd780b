// Directory login (`ldap`): which entry a login name means, the password check by a bind as that
// entry, and the account it signs in to (accounts.ts). Local accounts never reach here unless
// their local password was wrong (`claim`), so a directory that is down or hung changes nothing
// for them. Whatever the directory says, the user hears only "wrong username or password",
// "directory unavailable" or why their account cannot be theirs.
import type { Entry } from 'ldapts';
import type { Logger } from 'pino';
import type { DirectoryLogin, LoginIdentifier, LoginOutcome, PasswordDirectory } from '../accounts/authenticate.js';
import type { Config } from '../config/types.js';
import type { AppContext } from '../context.js';
import { renderTemplate, type ClaimsContext } from '../domain/claims-template/index.js';
import { localpartFromLogin } from '../domain/usernames.js';
import * as directoryAccounts from '../storage/directory-accounts.js';
import type * as users from '../storage/users.js';
import { settleAccount } from './accounts.js';
import { DirectoryUnavailableError, type DirectoryConnections } from './connections.js';
import { DirectoryEntry, escapeDnValue, isDisabled, isUnder, loginAttributes, lookupFilter, sameDn, userFilter } from './entries.js';
import { mapProfile } from './profile.js';

/** Where a login name is looked up: attributes to search, or (direct_bind) the DN to bind as. */
export type Lookup = { attributes: string[]; value: string } | { dn: string };

/** The entry to bind as; `entry` is known before the bind in search_bind, read after it in direct_bind. */
export interface Candidate {
  dn: string;
  entry?: DirectoryEntry;
}

const INVALID: LoginOutcome = { ok: false, reason: 'invalid' };

/** The attributes a medium maps to: `attributes.threepids`, and `attributes.email` for e-mail when login by e-mail is allowed. */
function mediumAttributes(config: Config, medium: string): string[] | undefined {
  if (medium === 'email' && !config.account.login_with_email_allowed) return undefined;
  return config.ldap.attributes.threepids[medium] ?? (medium === 'email' ? [config.ldap.attributes.email] : undefined);
}

/**
 * The lookups a login identifier means, in order: `username_rewrite` rules whose medium maps to
 * directory attributes, an e-mail address, then the name itself in `login_attributes` (a full
 * MXID of this server counts as its localpart).
 */
export function lookupsFor(config: Config, identifier: LoginIdentifier): Lookup[] {
  if (identifier.kind === 'thirdparty') {
    const attributes = mediumAttributes(config, identifier.medium);
    const value = identifier.address.trim();
    return attributes && value ? [{ attributes, value }] : [];
  }
  const name = identifier.name.trim();
  if (!name) return [];
  const lookups: Lookup[] = [];
  for (const rule of config.username_rewrite?.rules ?? []) {
    if (!new RegExp(`^(?:${rule.regex})$`).test(name)) continue;
    const attributes = mediumAttributes(config, rule.medium);
    if (attributes) lookups.push({ attributes, value: name });
  }
  // As for local accounts, a name with an @ that is not an MXID may be an e-mail address (or a
  // userPrincipalName, which the login attributes below find).
  const email = !name.startsWith('@') && name.includes('@') ? mediumAttributes(config, 'email') : undefined;
  if (email) lookups.push({ attributes: email, value: name });
  const login = name.startsWith('@') ? localpartFromLogin(name, config.matrix.homeserver) : name;
  if (!login) return lookups;
  const { ldap } = config;
  if (ldap.mode === 'search_bind') return [...lookups, { attributes: ldap.login_attributes, value: login }];
  // Control characters have no place in a DN (ldapts would pass them through).
  if ([...login].some((c) => c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f)) return lookups;
  const rendered = renderTemplate('dn_template', ldap.dn_template ?? '', { login: escapeDnValue(login) } as ClaimsContext);
  return rendered.ok && rendered.value ? [...lookups, { dn: rendered.value }] : lookups;
}

/** Finds entries as logins and ldap-check need them (search_bind lookups, subjects, direct_bind DNs). */
export function entryFinder(config: Config, connections: DirectoryConnections, log: Logger) {
  const ldap = config.ldap;
  const attributes = loginAttributes(ldap);

  async function search(lookup: { attributes: string[]; value: string }): Promise<DirectoryEntry[]> {
    const filter = lookupFilter(ldap, lookup.attributes, lookup.value);
    const found = new Map<string, DirectoryEntry>();
    for (const base of ldap.base_dns) {
      for (const raw of await connections.search(base, { scope: 'sub', filter, attributes, sizeLimit: 2 })) {
        found.set(raw.dn.toLowerCase(), DirectoryEntry.from(raw));
      }
    }
    return [...found.values()];
  }

  /** The first lookup that finds exactly one entry; several entries for one name stop the search (refused). */
  async function resolve(lookups: Lookup[]): Promise<Candidate | undefined> {
    for (const lookup of lookups) {
      if ('dn' in lookup) return isUnder(lookup.dn, ldap.base_dns) ? { dn: lookup.dn } : undefined;
      const entries = await search(lookup);
      if (entries.length > 1) {
        log.warn({ dns: entries.map((e) => e.dn) }, 'directory login refused: the login name matches several entries');
        return undefined;
      }
      if (entries[0]) return { dn: entries[0].dn, entry: entries[0] };
    }
    return undefined;
  }

  return {
    attributes,
    resolve,
    /** The entry of a directory account, found again by its subject. */
    bySubject: (subject: string) => resolve([{ attributes: [ldap.attributes.localpart], value: subject }]),
    /** Every usable entry with this subject (more than one: the subject names no entry safely). */
    withSubject: (subject: string) => search({ attributes: [ldap.attributes.localpart], value: subject }),
    /** A direct_bind DN read with the service account (ldap-check). */
    async read(dn: string): Promise<DirectoryEntry | undefined> {
      const [raw, ...more] = await connections.search(dn, { scope: 'base', filter: userFilter(ldap), attributes });
      return raw && more.length === 0 ? DirectoryEntry.from(raw) : undefined;
    },
  };
}

export function directoryPasswords(app: AppContext, connections: DirectoryConnections): PasswordDirectory {
  const { config, log } = app;
  const ldap = config.ldap;
  const finder = entryFinder(config, connections, log);
  const { attributes, resolve } = finder;

  /** The entry a directory account is linked to, found again by its subject. */
  async function linkedEntry(account: users.User): Promise<Candidate | undefined> {
    const link = await directoryAccounts.findByUser(app.sql, account.id);
    return link ? finder.bySubject(link.subject) : undefined;
  }

  /** The entry as read after a direct bind: one, within the base DNs (user_filter applied by the read). */
  function readBack(entries: Entry[]): DirectoryEntry | undefined {
    const [raw] = entries;
    return entries.length === 1 && raw ? DirectoryEntry.from(raw) : undefined;
  }

  /** `claim`: a local account's password was wrong; undefined instead of "invalid" then, and no second dummy hash. */
  async function attempt(login: DirectoryLogin, account: users.User | undefined, claim: boolean): Promise<LoginOutcome | undefined> {
    const { password, hasher, limiter } = login;
    const invalid = claim ? undefined : INVALID;
    // What the user typed first (in direct_bind the only way to the entry); then the entry the
    // account is linked to, which a name found only locally (a verified address) leads to.
    const candidate = (await resolve(lookupsFor(config, login.identifier))) ?? (account && !claim ? await linkedEntry(account) : undefined);
    if (!candidate || (candidate.entry && isDisabled(candidate.entry))) {
      if (!claim) await hasher.verifyDummy(password);
      return invalid;
    }
    const profileBefore = candidate.entry && mapProfile(ldap, candidate.entry, config.matrix.homeserver);
    // The attempt counts against the account the entry belongs to, or against the entry before it has one.
    const owner = profileBefore?.ok ? (await directoryAccounts.findUserBySubject(app.sql, profileBefore.profile.subject))?.user : undefined;
    const bucket = owner?.id ?? account?.id ?? `directory:${candidate.dn.toLowerCase()}`;
    if (!(claim && bucket === account?.id)) await limiter.perAccount(bucket);

    const bound = await connections.verifyPassword(candidate.dn, password, candidate.entry ? undefined : { filter: userFilter(ldap), attributes });
    if (!bound.ok) return invalid;
    const entry = candidate.entry ?? readBack(bound.entries);
    if (!entry || isDisabled(entry) || !isUnder(entry.dn, ldap.base_dns)) return invalid;
    const mapped = profileBefore ?? mapProfile(ldap, entry, config.matrix.homeserver);
    if (!mapped.ok) {
      log.warn({ dn: entry.dn, problem: mapped.problem }, 'directory login refused: no Matrix account can be made from the entry');
      return { ok: false, reason: 'refused', message: 'Your directory account cannot be given a Matrix account here. Ask an administrator.' };
    }
    if (!(await onlyEntryWithSubject(entry.dn, mapped.profile.subject))) {
      log.warn({ dn: entry.dn }, 'directory login refused: another entry has the same localpart attribute (the account is found by it)');
      return { ok: false, reason: 'refused', message: 'Your directory account cannot be given a Matrix account here. Ask an administrator.' };
    }
    return settleAccount(app, entry.dn, mapped.profile);
  }

  /**
   * Accounts are found by their entry's subject (so an entry may move): an entry signs in to the
   * account of its subject only if the account was made for this very DN, or no other usable entry
   * has that subject (two entries with the same uid in different base DNs would otherwise share
   * an account). Entries the service account cannot see (direct_bind) are not known here.
   */
  async function onlyEntryWithSubject(dn: string, subject: string): Promise<boolean> {
    const linked = await directoryAccounts.findUserBySubject(app.sql, subject);
    if (linked && sameDn(linked.link.dn, dn)) return true;
    return (await finder.withSubject(subject)).every((other) => sameDn(other.dn, dn));
  }

  const unavailable = (err: DirectoryUnavailableError) => {
    log.warn({ kind: err.kind, reason: err.message }, 'directory unavailable: login answered "try again"');
  };

  return {
    async authenticate(login) {
      try {
        return (await attempt(login, login.account, false)) ?? INVALID;
      } catch (err) {
        if (!(err instanceof DirectoryUnavailableError)) throw err;
        unavailable(err);
        return { ok: false, reason: 'unavailable' };
      }
    },
    async claim(login) {
      try {
        return await attempt(login, login.account, true);
      } catch (err) {
        if (!(err instanceof DirectoryUnavailableError)) throw err;
        // The local password was wrong whatever the directory would have said.
        unavailable(err);
        return undefined;
      }
    },
  };
}
