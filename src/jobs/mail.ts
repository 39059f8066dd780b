// Mail is sent from jobs, written in the same transaction as the code or ticket it carries. The
// secret travels sealed with `secrets.encryption` (the database keeps only its hash otherwise),
// so a failed send is retried with the same code until the mail server answers.
// Only one, canonical address is ever a recipient: nodemailer would mail every address of a list.
// A mail is written in the language of the request that caused it (`lang`, kept in the job).
import type { Logger } from 'pino';
import type { Config } from '../config/types.js';
import { parseEmailAddress } from '../domain/email-address.js';
import { seal, unseal } from '../domain/seal.js';
import type { Db } from '../storage/db.js';
import { enqueue } from '../storage/jobs.js';
import type { JobHandler } from './worker.js';
import type { Mailer } from '../email/mailer.js';

export const EMAIL_JOBS = { verificationCode: 'send_verification_code', recoveryLink: 'send_recovery_link' } as const;

interface SealedMail {
  to: string;
  sealed: string;
  context: Record<string, unknown>;
  /** The language tag of the request that caused the mail; absent in older jobs (English). */
  lang?: string;
}

/** The canonical form of `to` when it is exactly one address; undefined otherwise. */
function singleRecipient(to: unknown): string | undefined {
  const parsed = typeof to === 'string' ? parseEmailAddress(to) : undefined;
  return parsed?.ok ? parsed.value.address : undefined;
}

function requireSingleRecipient(to: string): string {
  const recipient = singleRecipient(to);
  if (!recipient) throw new Error('mail recipient is not one e-mail address');
  return recipient;
}

export async function enqueueVerificationCode(db: Db, config: Config, address: string, code: string, lang?: string): Promise<void> {
  const to = requireSingleRecipient(address);
  const payload: SealedMail = {
    to,
    sealed: await seal(config.secrets.encryption, code),
    context: { email: to, minutes: Math.round(config.account.email_code_ttl / 60) },
    ...(lang ? { lang } : {}),
  };
  await enqueue(db, EMAIL_JOBS.verificationCode, payload, { maxAttempts: 30 });
}

export async function enqueueRecoveryLink(db: Db, config: Config, address: string, mxid: string, link: string, lang?: string): Promise<void> {
  const to = requireSingleRecipient(address);
  const payload: SealedMail = {
    to,
    sealed: await seal(config.secrets.encryption, link),
    context: { mxid, minutes: Math.round(config.account.recovery_ticket_ttl / 60) },
    ...(lang ? { lang } : {}),
  };
  await enqueue(db, EMAIL_JOBS.recoveryLink, payload, { maxAttempts: 30 });
}

export function emailJobHandlers({ config, mailer, log }: { config: Config; mailer: Mailer; log: Logger }): Record<string, JobHandler> {
  const refuse = (kind: string) => log.warn({ kind }, 'mail not sent: its recipient is not one e-mail address');
  return {
    async [EMAIL_JOBS.verificationCode](payload: SealedMail) {
      // Jobs written before addresses were checked may hold a list: such a mail is dropped.
      const to = singleRecipient(payload.to);
      if (!to) return refuse(EMAIL_JOBS.verificationCode);
      const code = await unseal(config.secrets.encryption, payload.sealed);
      await mailer.send({ to, template: 'verification', context: { ...payload.context, code }, lang: payload.lang });
      log.info({ kind: EMAIL_JOBS.verificationCode }, 'verification code sent');
    },
    async [EMAIL_JOBS.recoveryLink](payload: SealedMail) {
      const to = singleRecipient(payload.to);
      if (!to) return refuse(EMAIL_JOBS.recoveryLink);
      const link = await unseal(config.secrets.encryption, payload.sealed);
      await mailer.send({ to, template: 'recovery', context: { ...payload.context, link }, lang: payload.lang });
      log.info({ kind: EMAIL_JOBS.recoveryLink }, 'recovery link sent');
    },
  };
}
