// E-mail addresses as people type them. Whatever enters Mauth as an address (forms, upstream
// claims, the CLI) must be exactly one RFC 5322 addr-spec in its dot-atom form: a string that a
// mail library could read as a list, a display name or a comment ("a@x,b@y", "a@x <b@y>") would
// otherwise reach a recipient that no check saw.
//
// Two forms come out:
//   address  what is stored and mailed: the local part as given, the domain lower-case ASCII
//            (Unicode domains become their IDNA A-labels, so no SMTPUTF8 is needed to reach them)
//   key      what is compared: the address with the local part's ASCII letters lower-cased too.
//            Lower-casing is explicit and ASCII-only, so no locale or database collation can make
//            two different addresses compare equal (PostgreSQL's lower('İ') is 'i').
import { domainToASCII } from 'node:url';

export interface EmailAddress {
  readonly address: string;
  readonly key: string;
  readonly localPart: string;
  /** Lower-case ASCII, IDNA A-labels. */
  readonly domain: string;
}

export type EmailProblem =
  | 'empty'
  | 'too_long'
  | 'list'
  | 'decorated'
  | 'invisible'
  | 'syntax'
  | 'non_ascii'
  | 'local_part'
  | 'domain';

export type ParsedEmail =
  | { ok: true; value: EmailAddress }
  | { ok: false; problem: EmailProblem; message: string };

export interface EmailParseOptions {
  /**
   * Accept non-ASCII local parts (RFC 6531). Only a mail server that offers SMTPUTF8 can deliver
   * them, and no transport setting says so yet: off by default.
   */
  smtpUtf8?: boolean;
}

const MAX_INPUT = 1024;
const MAX_ADDRESS = 254; // RFC 5321 path limit (256) minus the angle brackets
const MAX_LOCAL = 64;
const MAX_DOMAIN = 253;

const MESSAGES: Record<EmailProblem, string> = {
  empty: 'Enter an e-mail address.',
  too_long: 'This e-mail address is too long.',
  list: 'Enter a single e-mail address, not a list.',
  decorated: 'Enter the address alone, without a name, quotes, comments or brackets.',
  invisible: 'An e-mail address cannot contain spaces, line breaks or invisible characters.',
  syntax: 'This is not a valid e-mail address.',
  non_ascii: 'This is not a valid e-mail address here: only ASCII characters are allowed before the @.',
  local_part: 'This is not a valid e-mail address: check the part before the @.',
  domain: 'This is not a valid e-mail address: check the domain after the @.',
};

// RFC 5322 atext without `!` and `%`: old mail servers still route `a%b@c` and `b!a@c` onwards
// to another host, past the domain a policy looked at.
const ATOM = /^[A-Za-z0-9#$&'*+\-/=?^_`{|}~]+$/;
// Beyond ASCII, letters, marks and digits only: no look-alike `＠`, dots or quotes.
const ATOM_UTF8 = /^(?:[A-Za-z0-9#$&'*+\-/=?^_`{|}~]|[\p{L}\p{M}\p{N}])+$/u;
const LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
const LIST = /[,;]/;
const DECORATION = /[<>()"[\]:\\]/;
// Controls, format characters (zero-width, bidi overrides), separators and any other space.
const INVISIBLE = /[\p{C}\p{Z}\s]/u;
// Letters, marks and digits outside ASCII go to IDNA; any ASCII beyond LDH and the dot cannot
// be part of a host name.
const DOMAIN_INPUT = /^(?:[A-Za-z0-9.-]|[^\p{ASCII}])+$/u;

function fail(problem: EmailProblem): ParsedEmail {
  return { ok: false, problem, message: MESSAGES[problem] };
}

/** Lower-cases A–Z only, whatever the locale. */
export function asciiLower(s: string): string {
  return s.replace(/[A-Z]/g, (c) => String.fromCharCode(c.charCodeAt(0) + 32));
}

function octets(s: string): number {
  return Buffer.byteLength(s, 'utf8');
}

function normaliseDomain(input: string): string | undefined {
  if (!DOMAIN_INPUT.test(input)) return undefined;
  const ascii = domainToASCII(input);
  if (!ascii || ascii.length > MAX_DOMAIN) return undefined;
  const labels = ascii.split('.');
  if (!labels.every((l) => LABEL.test(l))) return undefined;
  // An all-numeric last label is an IP address in disguise (`0x7f.1` becomes `127.0.0.1`).
  if (/^[0-9]+$/.test(labels[labels.length - 1])) return undefined;
  return ascii;
}

/** Reads `input` as exactly one address; never throws. */
export function parseEmailAddress(input: string, options: EmailParseOptions = {}): ParsedEmail {
  if (typeof input !== 'string' || input.length === 0) return fail('empty');
  if (input.length > MAX_INPUT) return fail('too_long');
  if (LIST.test(input)) return fail('list');
  if (DECORATION.test(input)) return fail('decorated');
  if (INVISIBLE.test(input)) return fail('invisible');
  const at = input.indexOf('@');
  if (at < 0) return fail('syntax');
  if (input.indexOf('@', at + 1) >= 0) return fail('list');

  let localPart = input.slice(0, at);
  if (/[^\p{ASCII}]/u.test(localPart)) {
    if (!options.smtpUtf8) return fail('non_ascii');
    localPart = localPart.normalize('NFC');
  }
  const atom = options.smtpUtf8 ? ATOM_UTF8 : ATOM;
  if (!localPart.split('.').every((a) => atom.test(a))) return fail('local_part');
  // RFC 2047: an encoded word must never appear in an addr-spec (some readers would decode it).
  if (localPart.includes('=?')) return fail('local_part');
  if (octets(localPart) > MAX_LOCAL) return fail('too_long');

  const domain = normaliseDomain(input.slice(at + 1));
  if (!domain) return fail('domain');
  const address = `${localPart}@${domain}`;
  if (octets(address) > MAX_ADDRESS) return fail('too_long');
  return { ok: true, value: { address, key: `${asciiLower(localPart)}@${domain}`, localPart, domain } };
}

/** The comparison key of an address, or undefined when it is not one. */
export function emailKey(input: string, options?: EmailParseOptions): string | undefined {
  const parsed = parseEmailAddress(input, options);
  return parsed.ok ? parsed.value.key : undefined;
}

/** Whether two strings name the same mailbox (both must be valid addresses). */
export function sameEmailAddress(a: string, b: string, options?: EmailParseOptions): boolean {
  const ka = emailKey(a, options);
  return ka !== undefined && ka === emailKey(b, options);
}
