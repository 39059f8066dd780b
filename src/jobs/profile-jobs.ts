// What the account page changes on the homeserver besides the account's existence: the display
// name and a device's name. As the other homeserver jobs, each reads the state it sends when it
// runs, so a late or repeated run sends what is true then.
import type { Logger } from 'pino';
import { HomeserverError, type HomeserverConnection } from '../homeserver/connection.js';
import type { Db, Sql } from '../storage/db.js';
import { enqueue } from '../storage/jobs.js';
import { liveDeviceName } from '../storage/oauth2-sessions.js';
import * as users from '../storage/users.js';
import { PermanentJobError, type JobHandler } from './worker.js';

export const PROFILE_JOB_KINDS = {
  setDisplayname: 'set_displayname',
  updateDeviceDisplayName: 'update_device_display_name',
} as const;

export interface SetDisplaynamePayload {
  user_id: string;
}
export interface UpdateDeviceDisplayNamePayload {
  user_id: string;
  device_id: string;
}

/** Sends the user's display name (or its absence) to the homeserver. */
export function enqueueSetDisplayname(db: Db, userId: string): Promise<string> {
  return enqueue(db, PROFILE_JOB_KINDS.setDisplayname, { user_id: userId } satisfies SetDisplaynamePayload);
}

/** Sends the name the user gave a device to the homeserver. */
export function enqueueUpdateDeviceDisplayName(db: Db, userId: string, deviceId: string): Promise<string> {
  return enqueue(db, PROFILE_JOB_KINDS.updateDeviceDisplayName, { user_id: userId, device_id: deviceId } satisfies UpdateDeviceDisplayNamePayload);
}

function stringField(payload: unknown, name: string): string {
  const value = payload && typeof payload === 'object' ? (payload as Record<string, unknown>)[name] : undefined;
  if (typeof value !== 'string' || value === '') throw new PermanentJobError(`payload field "${name}" is missing or not a string`);
  return value;
}

export function profileJobHandlers({ sql, homeserver, log }: { sql: Sql; homeserver: HomeserverConnection; log: Logger }): Record<string, JobHandler> {
  async function userOrSkip(userId: string, kind: string) {
    const user = await users.findById(sql, userId);
    if (!user) log.info({ user_id: userId, job_kind: kind }, 'user no longer exists; nothing to do');
    return user;
  }

  return {
    async [PROFILE_JOB_KINDS.setDisplayname](payload: unknown) {
      const user = await userOrSkip(stringField(payload, 'user_id'), PROFILE_JOB_KINDS.setDisplayname);
      // A deactivated account's profile is the homeserver's to keep or erase.
      if (!user || user.deactivated_at) return;
      if (user.display_name) await homeserver.setDisplayname(user.username, user.display_name);
      else await homeserver.unsetDisplayname(user.username);
    },

    async [PROFILE_JOB_KINDS.updateDeviceDisplayName](payload: unknown) {
      const deviceId = stringField(payload, 'device_id');
      const user = await userOrSkip(stringField(payload, 'user_id'), PROFILE_JOB_KINDS.updateDeviceDisplayName);
      if (!user) return;
      const device = await liveDeviceName(sql, user.id, deviceId);
      if (!device?.name) {
        log.info({ user_id: user.id, device_id: deviceId }, 'the device has no session or no name any more; nothing to send');
        return;
      }
      try {
        await homeserver.updateDeviceDisplayName(user.username, deviceId, device.name);
      } catch (err) {
        // The device went from the homeserver (its session ended meanwhile): nothing to name.
        if (err instanceof HomeserverError && err.status === 404 && err.errcode === 'M_NOT_FOUND') {
          log.info({ user_id: user.id, device_id: deviceId }, 'the homeserver does not know the device; not renamed');
          return;
        }
        throw err;
      }
    },
  };
}
