// Directory entries as the rest of Mauth sees them, and the filters and DNs that find them. Values
// typed by users reach the directory only inside ldapts filter objects (sent as BER octet strings,
// printed RFC 4515-escaped) or DN-escaped by ldapts' DN class: never by string concatenation.
import { AndFilter, DN, EqualityFilter, FilterParser, OrFilter, type Entry, type Filter } from 'ldapts';
import type { LdapConfig } from './connections.js';

/** Active Directory's account flags; bit 2 (ACCOUNTDISABLE) marks a disabled account. */
export const ACCOUNT_CONTROL = 'userAccountControl';
const ACCOUNTDISABLE = 2;

export class DirectoryEntry {
  readonly #values = new Map<string, string[]>();

  constructor(
    readonly dn: string,
    values: Iterable<[string, string[]]>,
  ) {
    for (const [name, list] of values) this.#values.set(name.toLowerCase(), list);
  }

  /** ldapts' form: attribute names as the server sent them, values as strings, lists or buffers. */
  static from(raw: Entry): DirectoryEntry {
    const values: [string, string[]][] = [];
    for (const [name, value] of Object.entries(raw)) {
      if (name === 'dn') continue;
      const list = Array.isArray(value) ? value : [value];
      values.push([name, list.map((v) => (Buffer.isBuffer(v) ? v.toString('utf8') : String(v)))]);
    }
    return new DirectoryEntry(raw.dn, values);
  }

  /** Every value of `attribute` (attribute names compare without case, as in LDAP). */
  values(attribute: string): string[] {
    return this.#values.get(attribute.toLowerCase()) ?? [];
  }

  first(attribute: string): string | undefined {
    return this.values(attribute).find((v) => v.trim() !== '');
  }
}

/** Disabled in Active Directory (userAccountControl bit 2): such a user cannot log in. */
export function isDisabled(entry: DirectoryEntry): boolean {
  const flags = Number.parseInt(entry.first(ACCOUNT_CONTROL) ?? '', 10);
  return Number.isInteger(flags) && (flags & ACCOUNTDISABLE) !== 0;
}

/** The attributes `localpart_template` names as `user.<attribute>` or `user["<attribute>"]`. */
function templateAttributes(template: string | undefined): string[] {
  if (!template) return [];
  const names = [...template.matchAll(/\buser\s*(?:\.\s*([A-Za-z][A-Za-z0-9-]*)|\[\s*["']([A-Za-z][A-Za-z0-9-]*)["']\s*\])/g)];
  return names.map((m) => m[1] ?? m[2] ?? '').filter(Boolean);
}

/** What a login reads from an entry: the mapped attributes, the login attributes, the AD flags. */
export function loginAttributes(config: LdapConfig): string[] {
  const { attributes } = config;
  const wanted = [
    attributes.localpart,
    attributes.display_name,
    attributes.email,
    ...Object.values(attributes.threepids).flat(),
    ...config.login_attributes,
    ...templateAttributes(config.localpart_template),
    ACCOUNT_CONTROL,
  ];
  const seen = new Map<string, string>();
  for (const name of wanted) if (!seen.has(name.toLowerCase())) seen.set(name.toLowerCase(), name);
  return [...seen.values()];
}

/** The names the template context uses: each attribute as the configuration spells it. */
export function templateNames(config: LdapConfig): string[] {
  return loginAttributes(config).filter((name) => name !== ACCOUNT_CONTROL);
}

const parsedFilters = new Map<string, Filter>();

/** `ldap.user_filter`, parsed (config check made sure it parses). */
export function userFilter(config: LdapConfig): Filter {
  let filter = parsedFilters.get(config.user_filter);
  if (!filter) {
    filter = FilterParser.parseString(config.user_filter);
    parsedFilters.set(config.user_filter, filter);
  }
  return filter;
}

/** Entries within `user_filter` whose value of one of `attributes` equals `value` (LDAP equality, so usually without case). */
export function lookupFilter(config: LdapConfig, attributes: string[], value: string): Filter {
  const equalities = attributes.map((attribute) => new EqualityFilter({ attribute, value }));
  const match = equalities.length === 1 ? equalities[0]! : new OrFilter({ filters: equalities });
  return new AndFilter({ filters: [userFilter(config), match] });
}

/** One attribute value made safe to place in a DN (RFC 4514 escaping by ldapts' DN class). */
export function escapeDnValue(value: string): string {
  return new DN().addPairRDN('v', value).toString().slice('v='.length);
}

/** A DN's RDNs, trimmed and lower-cased, for comparing DNs written with different spacing or case. */
function dnParts(dn: string): string[] {
  return dn
    .split(/(?<!\\),/)
    .map((rdn) => rdn.split(/(?<!\\)=/).map((part) => part.trim()).join('=').toLowerCase())
    .filter((rdn) => rdn !== '');
}

/** Whether two DNs name the same entry (RDNs compared as isUnder does). */
export function sameDn(a: string, b: string): boolean {
  const x = dnParts(a);
  const y = dnParts(b);
  return x.length === y.length && x.every((rdn, i) => rdn === y[i]);
}

/** Whether `dn` lies in one of the subtrees `bases` (or is one). */
export function isUnder(dn: string, bases: string[]): boolean {
  const parts = dnParts(dn);
  return bases.some((base) => {
    const suffix = dnParts(base);
    return suffix.length > 0 && suffix.length <= parts.length && suffix.every((rdn, i) => rdn === parts[parts.length - suffix.length + i]);
  });
}
