// `account`: what users may do with their own account. Defaults as in MAS.
import { boolean, integer } from './formats.js';
import type { Section } from './section.js';

export const accountSchema = {
  email_change_allowed: boolean('Users may change their e-mail addresses', true),
  displayname_change_allowed: boolean('Users may change their display names (keep in sync with the homeserver)', true),
  password_registration_enabled: boolean('Self-service registration with a password', false),
  password_registration_email_required: boolean('Password registration requires a verified e-mail', true),
  password_change_allowed: boolean('Users may change their passwords', true),
  password_recovery_enabled: boolean('Password recovery by e-mail', false),
  account_deactivation_allowed: boolean('Users may deactivate their own account', true),
  login_with_email_allowed: boolean('Users may log in with a verified e-mail address instead of their username', false),
  password_registration_token_required: boolean('Password registration requires a registration token', false),
  registration_token_required: boolean('Deprecated name of password_registration_token_required', false),
  email_code_ttl: integer('Mauth addition: seconds a mailed 6-digit code stays valid', 300, { min: 30, max: 86400 }),
  recovery_ticket_ttl: integer('Mauth addition: seconds a password recovery link stays valid', 600, { min: 60, max: 86400 }),
};

export const account: Section<'account'> = {
  key: 'account',
  description: ['What users may do themselves: register, recover and change passwords, change e-mail', 'and display name, deactivate their account, log in with e-mail.'],
  schema: accountSchema,
  check(config) {
    // MAS renamed the key; either spelling turns the requirement on, and code reads the old one.
    const section = config.account;
    const required = section.registration_token_required || section.password_registration_token_required === true;
    section.registration_token_required = required;
    section.password_registration_token_required = required;
  },
};
