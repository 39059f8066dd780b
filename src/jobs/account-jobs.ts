// Jobs that carry an account's deactivation and reactivation to the homeserver. Like the other
// homeserver jobs they read the account when they run: one that finds the account changed back
// since (reactivated before its deactivation reached the homeserver, or the reverse) does nothing,
// the later change's own job being the one that counts.
import type { HomeserverConnection } from '../homeserver/connection.js';
import type { Db } from '../storage/db.js';
import { enqueue } from '../storage/jobs.js';
import * as users from '../storage/users.js';
import { provisionUser, type HomeserverJobDeps } from './homeserver-jobs.js';
import { PermanentJobError, type JobHandler } from './worker.js';
import { profileJobHandlers } from './profile-jobs.js';

export const ACCOUNT_JOB_KINDS = {
  deactivateUser: 'deactivate_user',
  reactivateUser: 'reactivate_user',
} as const;

export interface DeactivateUserPayload {
  user_id: string;
  /** Also mark the user's data as erased on the homeserver (GDPR). */
  erase: boolean;
}

export interface ReactivateUserPayload {
  user_id: string;
}

/** Deactivates the account on the homeserver (`delete_user`). */
export function enqueueDeactivateUser(db: Db, userId: string, erase: boolean): Promise<string> {
  return enqueue(db, ACCOUNT_JOB_KINDS.deactivateUser, { user_id: userId, erase } satisfies DeactivateUserPayload);
}

/** Reactivates the account on the homeserver, then sends its profile again. */
export function enqueueReactivateUser(db: Db, userId: string): Promise<string> {
  return enqueue(db, ACCOUNT_JOB_KINDS.reactivateUser, { user_id: userId } satisfies ReactivateUserPayload);
}

function payloadOf(payload: unknown): { userId: string; erase: boolean } {
  const record = payload && typeof payload === 'object' ? (payload as Record<string, unknown>) : {};
  if (typeof record.user_id !== 'string' || record.user_id === '') throw new PermanentJobError('payload field "user_id" is missing or not a string');
  return { userId: record.user_id, erase: record.erase === true };
}

async function deactivate(homeserver: HomeserverConnection, user: users.User, erase: boolean): Promise<void> {
  await homeserver.deleteUser(user.username, erase);
}

async function reactivate(sql: Db, homeserver: HomeserverConnection, user: users.User): Promise<void> {
  await homeserver.reactivateUser(user.username);
  await provisionUser(sql, homeserver, user);
}

export function accountJobHandlers({ sql, homeserver, log }: HomeserverJobDeps): Record<string, JobHandler> {
  return {
    // The display name and device names the account page changes.
    ...profileJobHandlers({ sql, homeserver, log }),

    async [ACCOUNT_JOB_KINDS.deactivateUser](payload: unknown) {
      const { userId, erase } = payloadOf(payload);
      const user = await users.findById(sql, userId);
      if (!user?.deactivated_at) {
        log.info({ user_id: userId }, 'account is not deactivated (any more); nothing to send');
        return;
      }
      await deactivate(homeserver, user, erase);
    },

    async [ACCOUNT_JOB_KINDS.reactivateUser](payload: unknown) {
      const { userId } = payloadOf(payload);
      const user = await users.findById(sql, userId);
      if (!user || user.deactivated_at) {
        log.info({ user_id: userId }, 'account is gone or deactivated again; nothing to send');
        return;
      }
      await reactivate(sql, homeserver, user);
    },
  };
}
