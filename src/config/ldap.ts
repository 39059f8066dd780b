// `ldap` (Mauth addition, after mxisd): check passwords against an LDAP directory or Active
// Directory, create accounts from its entries and keep their profiles in step. MAS has no such
// section; the key names are Mauth's own.
import { access, constants } from 'node:fs/promises';
import { FilterParser } from 'ldapts';
import { templateSyntaxError } from '../domain/claims-template/index.js';
import { boolean, integer, mapping, number, oneOf, optionalString, secret, string, stringList, url } from './formats.js';
import type { Section } from './section.js';

const seconds = (doc: string) => number(doc, 3, { min: 0, exclusiveMin: true, max: 300 });

export const ldapSchema = {
  enabled: boolean('Check passwords of directory users against the directory', false),
  uri: url('The directory: ldap://host[:port] or ldaps://host[:port]', undefined, ['ldap', 'ldaps']),
  start_tls: boolean('Upgrade an ldap:// connection with StartTLS before anything is sent', false),
  ca_file: optionalString("PEM file of the CAs trusted for ldaps:// and StartTLS (default: the system's)"),
  insecure_skip_verify: boolean("Accept any certificate from the directory (never in production)", false),
  bind_dn: optionalString('DN of the service account that searches the directory; leave out with bind_password for anonymous searches'),
  bind_password: secret('Password of the service account'),
  bind_password_file: optionalString('File holding the password of the service account'),
  base_dns: stringList('Subtrees user entries are searched in', []),
  user_filter: string('Filter (RFC 4515) every user entry must match', '(objectClass=*)', { nonEmpty: true }),
  login_attributes: stringList('Attributes a login name is looked up in (uid, mail, sAMAccountName, userPrincipalName, ...)', ['uid']),
  attributes: {
    localpart: string('Attribute holding the localpart; its value also identifies the entry for ldap-sync', 'uid', { nonEmpty: true }),
    display_name: string('Attribute holding the display name', 'displayName', { nonEmpty: true }),
    email: string('Attribute holding the e-mail addresses', 'mail', { nonEmpty: true }),
    threepids: mapping<string[]>('Medium (as in username_rewrite.rules) to the attributes holding it, e.g. {employee_id: [employeeNumber]}', {}),
  },
  localpart_template: optionalString('Template of the localpart over `user` (the entry: first value of each attribute), e.g. "{{ user.uid | lower }}"'),
  mode: oneOf('search_bind (search with the service account, then bind as the entry found) or direct_bind (bind to dn_template)', ['search_bind', 'direct_bind'], 'search_bind'),
  dn_template: optionalString('direct_bind: the DN to bind as, with the login name as {{ login }} (DN-escaped), e.g. "uid={{ login }},ou=people,dc=example,dc=org"'),
  connect_timeout: seconds('Seconds to wait for a connection to the directory'),
  timeout: seconds('Seconds to wait for each directory operation; then the login answers "directory unavailable"'),
  pool_size: integer('Connections to the directory kept open per process', 4, { min: 1, max: 64 }),
  on_conflict: oneOf('A directory user whose localpart is taken by a local account: fail (refuse) or add (link the account to the entry)', ['fail', 'add'], 'fail'),
};

/** RFC 4515: one parenthesised filter, parentheses balanced (values escape theirs as \28 and \29), which ldapts parses. */
function parsesAsFilter(filter: string): boolean {
  const text = filter.trim();
  let depth = 0;
  for (const [i, c] of [...text].entries()) {
    if (c === '(') depth += 1;
    if (c === ')') depth -= 1;
    if (depth < 0 || (depth === 0 && i < text.length - 1)) return false;
  }
  if (depth !== 0 || !text.startsWith('(')) return false;
  try {
    FilterParser.parseString(text);
    return true;
  } catch {
    return false;
  }
}

const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]']);

export const ldap: Section<'ldap'> = {
  key: 'ldap',
  description: [
    'Mauth addition: directory (LDAP / Active Directory) login. With `enabled: true`, names not',
    'found among local accounts are looked up in `base_dns` (`login_attributes`, within',
    '`user_filter`) and the password is checked by a bind as that entry; the first login creates',
    'the account (localpart from `attributes.localpart` or `localpart_template`), and display',
    'name and e-mails follow the directory at every login. `mauth manage ldap-check <login>`',
    'shows what a login resolves to; `mauth manage ldap-sync` locks accounts gone from it.',
    'Also: `uri` (ldap://host or ldaps://host), `ca_file`, `bind_dn` with `bind_password` or',
    '`bind_password_file` (both left out: anonymous searches), `mode: direct_bind` with',
    '`dn_template: "uid={{ login }},ou=people,dc=example,dc=org"`, `attributes.threepids`',
    '(e.g. {employee_id: [employeeNumber]}) for username_rewrite rules and third-party logins,',
    '`on_conflict: add` to link a local account of the same name instead of refusing the login.',
  ],
  schema: ldapSchema,
  async check(config, report) {
    const section = config.ldap;
    if (!section.enabled) return;
    if (section.uri === undefined) report.error('is required when ldap is enabled, e.g. ldap://ldap.example.org', 'uri');
    const uri = section.uri === undefined ? undefined : new URL(section.uri);
    if (uri?.protocol === 'ldaps:' && section.start_tls) report.error('applies only to ldap:// (ldaps:// is TLS already)', 'start_tls');
    if (uri?.protocol === 'ldap:' && !section.start_tls && !LOOPBACK.has(uri.hostname)) {
      report.warn('is ldap:// without start_tls: passwords cross the network in clear text; use ldaps:// or start_tls: true', 'uri');
    }
    if (uri && (uri.pathname.replace(/^\/$/, '') !== '' || uri.search !== '')) report.error('must name only the server (scheme, host, port)', 'uri');
    if (section.ca_file !== undefined) {
      if (uri?.protocol === 'ldap:' && !section.start_tls) report.warn('is not used without ldaps:// or start_tls', 'ca_file');
      await access(section.ca_file, constants.R_OK).catch(() => report.error(`cannot read ${section.ca_file}`, 'ca_file'));
    }
    if (section.insecure_skip_verify) report.warn("is set: any server can pretend to be the directory and receive users' passwords", 'insecure_skip_verify');
    if ((section.bind_dn === undefined) !== (section.bind_password === undefined)) {
      report.error('bind_dn and bind_password go together: set both, or neither for anonymous searches', section.bind_dn === undefined ? 'bind_dn' : 'bind_password');
    }
    if (section.base_dns.length === 0) report.error('needs at least one DN, e.g. [ou=people,dc=example,dc=org]', 'base_dns');
    if (section.login_attributes.length === 0) report.error('needs at least one attribute, e.g. [uid]', 'login_attributes');
    if (!parsesAsFilter(section.user_filter)) report.error('is not an LDAP filter (RFC 4515), e.g. (objectClass=person)', 'user_filter');
    for (const [medium, attributes] of Object.entries<unknown>(section.attributes.threepids)) {
      const list = typeof attributes === 'string' ? [attributes] : attributes;
      if (!Array.isArray(list) || list.length === 0 || !list.every((a) => typeof a === 'string' && a.trim() !== '')) {
        report.error('must be a list of attribute names', `attributes.threepids.${medium}`);
      } else {
        section.attributes.threepids[medium] = list;
      }
    }
    for (const key of ['localpart_template', 'dn_template'] as const) {
      const template = section[key];
      const problem = template === undefined ? undefined : templateSyntaxError(template);
      if (problem) report.error(`is not a valid template: ${problem}`, key);
    }
    if (section.mode === 'direct_bind' && section.dn_template === undefined) report.error('is required with mode direct_bind', 'dn_template');
    if (section.mode === 'direct_bind' && section.dn_template !== undefined && !section.dn_template.includes('login')) {
      report.error('must place the login name with {{ login }}', 'dn_template');
    }
    if (section.mode === 'search_bind' && section.dn_template !== undefined) report.error('applies only to mode direct_bind', 'dn_template');
    if (!config.passwords.enabled) report.warn('is enabled but passwords.enabled is false: nobody can log in with a directory password', 'enabled');
  },
};
