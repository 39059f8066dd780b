// Mail is sent from jobs, written in the same transaction as the code or ticket it carries. The
// secret travels sealed with `secrets.encryption` (the database keeps only its hash otherwise),
// so a failed send is retried with the same code until the mail server answers.
import type { Logger } from 'pino';
import type { Config } from '../config/types.js';
import { seal, unseal } from '../domain/seal.js';
import type { Db } from '../storage/db.js';
import { enqueue } from '../storage/jobs.js';
import type { JobHandler } from '../jobs/worker.js';
import type { Mailer } from './mailer.js';

export const EMAIL_JOBS = { verificationCode: 'send_verification_code', recoveryLink: 'send_recovery_link' } as const;

interface SealedMail {
  to: string;
  sealed: string;
  context: Record<string, unknown>;
}

export async function enqueueVerificationCode(db: Db, config: Config, to: string, code: string): Promise<void> {
  const payload: SealedMail = {
    to,
    sealed: await seal(config.secrets.encryption, code),
    context: { email: to, minutes: Math.round(config.account.email_code_ttl / 60) },
  };
  await enqueue(db, EMAIL_JOBS.verificationCode, payload, { maxAttempts: 30 });
}

export async function enqueueRecoveryLink(db: Db, config: Config, to: string, mxid: string, link: string): Promise<void> {
  const payload: SealedMail = {
    to,
    sealed: await seal(config.secrets.encryption, link),
    context: { mxid, minutes: Math.round(config.account.recovery_ticket_ttl / 60) },
  };
  await enqueue(db, EMAIL_JOBS.recoveryLink, payload, { maxAttempts: 30 });
}

export function emailJobHandlers({ config, mailer, log }: { config: Config; mailer: Mailer; log: Logger }): Record<string, JobHandler> {
  return {
    async [EMAIL_JOBS.verificationCode](payload: SealedMail) {
      const code = await unseal(config.secrets.encryption, payload.sealed);
      await mailer.send({ to: payload.to, template: 'verification', context: { ...payload.context, code } });
      log.info({ kind: EMAIL_JOBS.verificationCode }, 'verification code sent');
    },
    async [EMAIL_JOBS.recoveryLink](payload: SealedMail) {
      const link = await unseal(config.secrets.encryption, payload.sealed);
      await mailer.send({ to: payload.to, template: 'recovery', context: { ...payload.context, link } });
      log.info({ kind: EMAIL_JOBS.recoveryLink }, 'recovery link sent');
    },
  };
}
