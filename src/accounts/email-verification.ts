// Proving an e-mail address with a mailed 6-digit code: codes are stored as keyed hashes with
// their expiry, the mail goes out from a job written in the same transaction, and every step is
// rate limited as MAS configures `rate_limiting.email_authentication`.
import { createHmac } from 'node:crypto';
import { secondsAfter, type Randomness } from '../clock.js';
import type { AppContext } from '../context.js';
import { asciiLower, emailKey } from '../domain/email-address.js';
import { enqueueVerificationCode } from '../jobs/mail.js';
import { RateLimited, limit } from './rate-limit.js';
import type { Db } from '../storage/db.js';
import * as registrations from '../storage/registrations.js';

export type VerifyOutcome = 'valid' | 'wrong' | 'expired' | 'too_many_attempts';

function codeHash(app: AppContext, authenticationId: string, code: string): string {
  return createHmac('sha256', Buffer.from(app.config.secrets.encryption, 'hex'))
    .update(`email-code:${authenticationId}:${code}`)
    .digest('base64url');
}

export function generateCode(random: Randomness): string {
  return String(random.int(1_000_000)).padStart(6, '0');
}

/** `lang`: the language of the request asking for the code, which the mail is written in. */
async function issueCode(app: AppContext, tx: Db, auth: registrations.EmailAuthentication, lang?: string): Promise<void> {
  const code = generateCode(app.random);
  const expiresAt = secondsAfter(app.clock.now(), app.config.account.email_code_ttl);
  await registrations.addCode(tx, auth.id, codeHash(app, auth.id, code), expiresAt);
  await enqueueVerificationCode(tx, app.config, auth.email, code, lang);
}

async function checkSendLimits(app: AppContext, db: Db, email: string, ip: string | undefined, authenticationId?: string) {
  const limits = app.config.rate_limiting.email_authentication;
  await limit(db, `email:ip:${ip ?? 'unknown'}`, limits.per_ip);
  // By comparison key: other spellings of one mailbox share its allowance.
  await limit(db, `email:address:${emailKey(email) ?? asciiLower(email)}`, limits.per_address);
  if (authenticationId) await limit(db, `email:session:${authenticationId}:sends`, limits.emails_per_session);
}

/** Starts proving `email` (for a registration or a signed-in user) and mails the first code. */
export async function startEmailAuthentication(
  app: AppContext,
  input: { email: string; registrationId?: string; userId?: string; ip?: string; lang?: string },
): Promise<registrations.EmailAuthentication> {
  await checkSendLimits(app, app.sql, input.email, input.ip);
  return app.sql.begin(async (tx) => {
    const { lang, ...created } = input;
    const auth = await registrations.createEmailAuthentication(tx, created);
    await limit(tx, `email:session:${auth.id}:sends`, app.config.rate_limiting.email_authentication.emails_per_session);
    await issueCode(app, tx, auth, lang);
    return auth;
  });
}

/** A new code (the old ones stay valid until they expire). Throws RateLimited when over the limits. */
export async function resendCode(app: AppContext, auth: registrations.EmailAuthentication, ip: string | undefined, lang?: string): Promise<void> {
  await checkSendLimits(app, app.sql, auth.email, ip, auth.id);
  await app.sql.begin((tx) => issueCode(app, tx, auth, lang));
}

export async function verifyCode(app: AppContext, auth: registrations.EmailAuthentication, code: string): Promise<VerifyOutcome> {
  try {
    await limit(app.sql, `email:session:${auth.id}:attempts`, app.config.rate_limiting.email_authentication.attempt_per_session);
  } catch (err) {
    if (!(err instanceof RateLimited)) throw err;
    // The session is over: guessing must not resume once the bucket refills.
    await registrations.dropCodes(app.sql, auth.id);
    return 'too_many_attempts';
  }
  const normalized = code.replace(/\s+/g, '');
  if (!/^[0-9]{6}$/.test(normalized)) return 'wrong';
  return registrations.checkCode(app.sql, auth.id, codeHash(app, auth.id, normalized), app.clock.now());
}
