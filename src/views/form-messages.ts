// What the forms say about rejected input (policy violations, username and address problems,
// weak passwords), as Messages the page translates. The rules below give codes; the words are
// the catalogue's.
import { checkStrength } from '../accounts/password-strength.js';
import { parseEmailAddress } from '../domain/email-address.js';
import { usernameProblem } from '../domain/usernames.js';
import type { RegisterViolation } from '../policy/register.js';
import { msg, type Message } from '../web/i18n.js';

/** A registration policy violation (policy/register.ts) for the field it names. */
export function violationMessage(violation: RegisterViolation, input: { username: string; email?: string; serverName: string }): Message {
  if (violation.code === 'username-invalid') return msg(`username.${usernameProblem(input.username, input.serverName) ?? 'characters'}`);
  if (violation.code === 'email-invalid') {
    const parsed = parseEmailAddress(input.email ?? '');
    return msg(`email_address.${parsed.ok ? 'syntax' : parsed.problem}`);
  }
  return msg(`policy.${violation.code}`);
}

/** An address that does not parse, in words. */
export function emailProblemMessage(parsed: ReturnType<typeof parseEmailAddress>): Message | undefined {
  return parsed.ok ? undefined : msg(`email_address.${parsed.problem}`);
}

/** Undefined for a strong enough password; else why not, with zxcvbn's hint when it has one. */
export function weakPasswordMessage(password: string, minimum: number, userInputs: string[]): Message | undefined {
  const strength = checkStrength(password, minimum, userInputs);
  if (strength.ok) return undefined;
  // zxcvbn-ts without translations gives its message keys (warnings and suggestions share a few).
  return strength.hint ? msg('errors.password.too_weak_hint', { hint: msg(`password_hint.${strength.hint}`) }) : msg('errors.password.too_weak');
}
