// Registration rules, after MAS's register and email policies, over `policy.data`:
//   allowed_domains / banned_domains        globs over the e-mail domain (`*` stays within a label)
//   emails.allowed_addresses / banned_addresses, registration.allowed_usernames / banned_usernames
//                                           string constraints: literals, substrings, regexes,
//                                           prefixes, suffixes
import { validateUsername } from '../domain/usernames.js';

export interface StringConstraints {
  literals?: string[];
  substrings?: string[];
  regexes?: string[];
  prefixes?: string[];
  suffixes?: string[];
}

export interface RegisterPolicyData {
  allowed_domains?: string[];
  banned_domains?: string[];
  emails?: { allowed_addresses?: StringConstraints; banned_addresses?: StringConstraints };
  registration?: { allowed_usernames?: StringConstraints; banned_usernames?: StringConstraints };
}

export interface RegisterViolation {
  field?: 'username' | 'email';
  code: string;
  msg: string;
}

export function matchesConstraints(value: string, c: StringConstraints | undefined): boolean {
  if (!c) return false;
  return (
    (c.literals ?? []).includes(value) ||
    (c.substrings ?? []).some((s) => value.includes(s)) ||
    (c.prefixes ?? []).some((s) => value.startsWith(s)) ||
    (c.suffixes ?? []).some((s) => value.endsWith(s)) ||
    (c.regexes ?? []).some((r) => new RegExp(r).test(value))
  );
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

export function evaluateEmail(email: string, data: RegisterPolicyData): RegisterViolation[] {
  const v: RegisterViolation[] = [];
  const at = email.lastIndexOf('@');
  if (at < 1 || at === email.length - 1 || /\s/.test(email)) {
    return [{ field: 'email', code: 'email-invalid', msg: 'This is not a valid e-mail address.' }];
  }
  const domain = email.slice(at + 1);
  if (data.allowed_domains && !data.allowed_domains.some((p) => domainGlob(p, domain))) {
    v.push({ field: 'email', code: 'email-domain-not-allowed', msg: 'Addresses at this domain cannot be used here.' });
  }
  if ((data.banned_domains ?? []).some((p) => domainGlob(p, domain))) {
    v.push({ field: 'email', code: 'email-domain-banned', msg: 'Addresses at this domain cannot be used here.' });
  }
  if (data.emails?.allowed_addresses && !matchesConstraints(email, data.emails.allowed_addresses)) {
    v.push({ field: 'email', code: 'email-not-allowed', msg: 'This address cannot be used here.' });
  }
  if (matchesConstraints(email, data.emails?.banned_addresses)) {
    v.push({ field: 'email', code: 'email-banned', msg: 'This address cannot be used here.' });
  }
  return v;
}

export function evaluateRegistration(
  input: { username: string; email?: string; emailRequired: boolean; serverName: string },
  data: RegisterPolicyData,
): RegisterViolation[] {
  const v: RegisterViolation[] = [];
  const problem = validateUsername(input.username, input.serverName);
  if (problem) v.push({ field: 'username', code: 'username-invalid', msg: `The ${problem}.` });
  if (data.registration?.allowed_usernames && !matchesConstraints(input.username, data.registration.allowed_usernames)) {
    v.push({ field: 'username', code: 'username-not-allowed', msg: 'This username is not allowed.' });
  }
  if (matchesConstraints(input.username, data.registration?.banned_usernames)) {
    v.push({ field: 'username', code: 'username-banned', msg: 'This username is not allowed.' });
  }
  if (!input.email) {
    if (input.emailRequired) v.push({ field: 'email', code: 'email-required', msg: 'An e-mail address is required.' });
  } else {
    v.push(...evaluateEmail(input.email, data));
  }
  return v;
}
