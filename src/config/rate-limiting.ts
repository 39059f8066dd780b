// `rate_limiting`: token buckets; `burst` actions at once, refilled at `per_second` (fractions
// allowed: 0.0008 is about three an hour). Defaults as in MAS.
import { integer, number } from './formats.js';
import type { Section } from './section.js';

function limiter(what: string, burst: number, perSecond: number) {
  return {
    burst: integer(`${what}: actions allowed at once`, burst, { min: 1 }),
    per_second: number(`${what}: actions regained per second`, perSecond, { min: 0, exclusiveMin: true, max: 1e9 }),
  };
}

export const rateLimitingSchema = {
  account_recovery: {
    per_ip: limiter('Account recovery per source IP', 3, 3 / 3600),
    per_address: limiter('Account recovery per e-mail address', 3, 1 / 3600),
  },
  login: {
    per_ip: limiter('Login attempts per source IP', 3, 3 / 60),
    per_account: limiter('Login attempts per account', 1800, 1800 / 3600),
  },
  registration: limiter('Registrations per source IP', 3, 3 / 3600),
  email_authentication: {
    per_ip: limiter('E-mail codes per source IP', 5, 1 / 60),
    per_address: limiter('E-mail codes per address', 3, 1 / 3600),
    emails_per_session: limiter('E-mails per authentication session', 2, 1 / 300),
    attempt_per_session: limiter('Code attempts per authentication session', 10, 1 / 60),
  },
  username_availability: limiter('Username availability checks per source IP', 3, 1),
  // Mauth's own: MAS has no limit on /link.
  device_code_link: limiter('User codes entered on the device link page per source IP', 10, 1 / 60),
  // Mauth's own: QR login opens one session per attempt; the burst covers a few retries.
  rendezvous: limiter('Rendezvous sessions (QR login) created per source IP', 10, 1 / 10),
};

export const rateLimiting: Section<'rate_limiting'> = {
  key: 'rate_limiting',
  description: ['Rate limits: each has `burst` (actions at once) and `per_second` (refill rate).'],
  schema: rateLimitingSchema,
};
