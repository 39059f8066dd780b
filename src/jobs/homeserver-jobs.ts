// Jobs that bring the homeserver in line with Mauth's database. Each reads the current state when
// it runs (not a snapshot taken at enqueue time), so running one twice, or late, is harmless.
// `end_user_sessions` is the exception: it ends the grants a password reset found, and only
// those (a sign-in after the reset is the owner's); ending one twice is harmless too.
import type { Logger } from 'pino';
import type { HomeserverConnection } from '../homeserver/connection.js';
import { lockDevice } from '../storage/compat.js';
import type { Db, Sql } from '../storage/db.js';
import { enqueue } from '../storage/jobs.js';
import { activeDeviceIds, deviceInUse, finishByGrantId } from '../storage/oauth2-sessions.js';
import { destroyGrant } from '../storage/oidc-payloads.js';
import * as users from '../storage/users.js';
import { PermanentJobError, type JobHandler } from './worker.js';

export const JOB_KINDS = {
  provisionUser: 'provision_user',
  deleteDevice: 'delete_device',
  syncDevices: 'sync_devices',
  endUserSessions: 'end_user_sessions',
} as const;

export interface ProvisionUserPayload {
  user_id: string;
}
export interface DeleteDevicePayload {
  user_id: string;
  device_id: string;
}
export interface SyncDevicesPayload {
  user_id: string;
}
export interface EndUserSessionsPayload {
  user_id: string;
  grant_ids: string[];
}

/** Creates or updates the user on the homeserver: display name, verified e-mails, lock. */
export function enqueueProvisionUser(db: Db, userId: string): Promise<string> {
  return enqueue(db, JOB_KINDS.provisionUser, { user_id: userId } satisfies ProvisionUserPayload);
}

/** Removes one device (a finished session) from the homeserver. */
export function enqueueDeleteDevice(db: Db, userId: string, deviceId: string): Promise<string> {
  return enqueue(db, JOB_KINDS.deleteDevice, { user_id: userId, device_id: deviceId } satisfies DeleteDevicePayload);
}

/** Makes the homeserver's device list equal the devices of the user's active sessions. */
export function enqueueSyncDevices(db: Db, userId: string): Promise<string> {
  return enqueue(db, JOB_KINDS.syncDevices, { user_id: userId } satisfies SyncDevicesPayload);
}

/** Ends these OAuth 2.0 grants of the user (after a password reset), should the request not get to it. */
export function enqueueEndUserSessions(db: Db, userId: string, grantIds: string[]): Promise<string> {
  return enqueue(db, JOB_KINDS.endUserSessions, { user_id: userId, grant_ids: grantIds } satisfies EndUserSessionsPayload);
}

/**
 * Runs in the transaction that deletes a grant: the OAuth 2.0 session it carried has ended, and
 * its device leaves the homeserver.
 */
export async function grantDestroyed(tx: Db, grantId: string): Promise<void> {
  const session = await finishByGrantId(tx, grantId);
  if (session?.device_id) await enqueueDeleteDevice(tx, session.user_id, session.device_id);
}

function requireString(payload: unknown, field: string): string {
  const value = payload && typeof payload === 'object' ? (payload as Record<string, unknown>)[field] : undefined;
  if (typeof value !== 'string' || value.length === 0) {
    throw new PermanentJobError(`payload field "${field}" is missing or not a string`);
  }
  return value;
}

function requireStrings(payload: unknown, field: string): string[] {
  const value = payload && typeof payload === 'object' ? (payload as Record<string, unknown>)[field] : undefined;
  if (!Array.isArray(value) || !value.every((v) => typeof v === 'string')) {
    throw new PermanentJobError(`payload field "${field}" is missing or not a list of strings`);
  }
  return value as string[];
}

export interface HomeserverJobDeps {
  sql: Sql;
  homeserver: HomeserverConnection;
  log: Logger;
}

/** Sends the account as Mauth knows it (display name, verified e-mails, lock) to the homeserver. */
export async function provisionUser(sql: Db, homeserver: HomeserverConnection, user: users.User): Promise<void> {
  const emails = await users.verifiedEmails(sql, user.id);
  await homeserver.provisionUser({
    localpart: user.username,
    displayName: user.display_name ?? undefined,
    emails,
    locked: user.locked_at !== null,
  });
}

export function homeserverJobHandlers({ sql, homeserver, log }: HomeserverJobDeps): Record<string, JobHandler> {
  /** The user, or undefined (logged) when it was deleted since: nothing left to do then. */
  async function userOrSkip(userId: string, kind: string) {
    const user = await users.findById(sql, userId);
    if (!user) log.info({ user_id: userId, job_kind: kind }, 'user no longer exists; nothing to do');
    return user;
  }

  return {
    async [JOB_KINDS.provisionUser](payload: unknown) {
      const userId = requireString(payload, 'user_id');
      const user = await userOrSkip(userId, JOB_KINDS.provisionUser);
      if (!user) return;
      await provisionUser(sql, homeserver, user);
    },

    async [JOB_KINDS.deleteDevice](payload: unknown) {
      const userId = requireString(payload, 'user_id');
      const deviceId = requireString(payload, 'device_id');
      const user = await userOrSkip(userId, JOB_KINDS.deleteDevice);
      if (!user) return;
      // The job may run long after the session ended (retries), and a client may log in again
      // with the same device id meanwhile. Logins commit their session before they create the
      // device: one committed by now is seen here, and the device stays.
      const inUse = await sql.begin(async (tx) => {
        await lockDevice(tx, user.id, deviceId);
        return deviceInUse(tx, user.id, deviceId);
      });
      if (inUse) {
        log.info({ user_id: user.id, device_id: deviceId }, 'device is in use by a live session again; not deleted');
        return;
      }
      // Outside any transaction: a stalled homeserver must not hold a database connection.
      await homeserver.deleteDevice(user.username, deviceId);
      // A login that committed its session while the deletion was in flight may have created
      // its device before the deletion reached the homeserver: it gets its device back here.
      if (await deviceInUse(sql, user.id, deviceId)) await homeserver.upsertDevice(user.username, deviceId);
    },

    async [JOB_KINDS.syncDevices](payload: unknown) {
      const userId = requireString(payload, 'user_id');
      const user = await userOrSkip(userId, JOB_KINDS.syncDevices);
      if (!user) return;
      const sent = new Set(await activeDeviceIds(sql, user.id));
      await homeserver.syncDevices(user.username, [...sent]);
      // A login that committed its session after the read above may have created its device
      // before the sync reached the homeserver, which then removed it: put it back.
      for (const deviceId of await activeDeviceIds(sql, user.id)) {
        if (!sent.has(deviceId)) await homeserver.upsertDevice(user.username, deviceId);
      }
    },

    async [JOB_KINDS.endUserSessions](payload: unknown) {
      requireString(payload, 'user_id');
      for (const grantId of requireStrings(payload, 'grant_ids')) await destroyGrant(sql, grantId, (tx) => grantDestroyed(tx, grantId));
    },
  };
}
