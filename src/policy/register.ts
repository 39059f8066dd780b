// Registration rules, after MAS's register and email policies, over the policy data:
//   allowed_domains / banned_domains        globs over the e-mail domain (`*` stays within a label)
//   emails.allowed_addresses / banned_addresses, registration.allowed_usernames / banned_usernames
//                                           string constraints: literals, substrings, regexes,
//                                           prefixes, suffixes
//   requester.banned_ips / banned_user_agents  who may register at all
// The address is first read as exactly one addr-spec (src/domain/email-address.ts); the rules
// then look at its canonical form, so `a@evil.test,b@allowed.test` never reaches them as an
// address at allowed.test.
import { domainToASCII } from 'node:url';
import { parseEmailAddress } from '../domain/email-address.js';
import { matchesString, type PolicyData, type StringMatcher } from '../domain/policy-data.js';
import { validateUsername } from '../domain/usernames.js';
import { REQUESTER_BANNED, requesterViolation, type Requester } from './requester.js';
import type { Violation } from './violation.js';

/** The parts of the policy data the e-mail policy reads. */
export type EmailPolicyData = Pick<PolicyData, 'allowed_domains' | 'banned_domains' | 'emails'>;

export interface RegisterViolation extends Violation {
  field?: 'username' | 'email';
  code: string;
}

/** Glob over a domain with `.` as separator: `*` matches within one label, `**` across labels. */
export function domainGlob(pattern: string, domain: string): boolean {
  let re = '';
  for (let i = 0; i < pattern.length; i += 1) {
    const c = pattern[i];
    if (c === '*' && pattern[i + 1] === '*') {
      re += '.*';
      i += 1;
    } else if (c === '*') re += '[^.]*';
    else if (c === '?') re += '[^.]';
    else re += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`, 'i').test(domain);
}

/** A domain pattern in the form addresses are compared in: lower-case, IDNA A-labels. */
function asciiPattern(pattern: string): string {
  return pattern
    .split('.')
    .map((label) => (/[*?]/.test(label) ? label.toLowerCase() : domainToASCII(label) || label.toLowerCase()))
    .join('.');
}

export function evaluateEmail(email: string, data: EmailPolicyData): RegisterViolation[] {
  const v: RegisterViolation[] = [];
  const parsed = parseEmailAddress(email);
  if (!parsed.ok) return [{ field: 'email', code: 'email-invalid', msg: parsed.message }];
  const { address, key, domain } = parsed.value;
  const matchesDomain = (patterns: readonly string[]) => patterns.some((p) => domainGlob(asciiPattern(p), domain));
  // Address constraints see the address as stored and as compared (local part lower-cased).
  const matchesAddress = (c: StringMatcher | undefined) => matchesString(address, c) || matchesString(key, c);
  if (data.allowed_domains && !matchesDomain(data.allowed_domains)) {
    v.push({ field: 'email', code: 'email-domain-not-allowed', msg: 'Addresses at this domain cannot be used here.' });
  }
  if (matchesDomain(data.banned_domains)) {
    v.push({ field: 'email', code: 'email-domain-banned', msg: 'Addresses at this domain cannot be used here.' });
  }
  if (data.emails.allowed_addresses && !matchesAddress(data.emails.allowed_addresses)) {
    v.push({ field: 'email', code: 'email-not-allowed', msg: 'This address cannot be used here.' });
  }
  if (matchesAddress(data.emails.banned_addresses)) {
    v.push({ field: 'email', code: 'email-banned', msg: 'This address cannot be used here.' });
  }
  return v;
}

export function evaluateRegistration(
  input: { username: string; email?: string; emailRequired: boolean; requester: Requester },
  data: PolicyData,
): RegisterViolation[] {
  const v: RegisterViolation[] = [];
  const problem = validateUsername(input.username, data.server_name);
  if (problem) v.push({ field: 'username', code: 'username-invalid', msg: `The ${problem}.` });
  const { allowed_usernames: allowed, banned_usernames: banned } = data.registration;
  if (allowed && !matchesString(input.username, allowed)) {
    v.push({ field: 'username', code: 'username-not-allowed', msg: 'This username is not allowed.' });
  }
  if (matchesString(input.username, banned)) {
    v.push({ field: 'username', code: 'username-banned', msg: 'This username is not allowed.' });
  }
  if (requesterViolation(input.requester, data)) {
    v.push({ code: REQUESTER_BANNED, msg: 'Registration is not allowed from your network or with the software you are using.' });
  }
  if (!input.email) {
    if (input.emailRequired) v.push({ field: 'email', code: 'email-required', msg: 'An e-mail address is required.' });
  } else {
    v.push(...evaluateEmail(input.email, data));
  }
  return v;
}
