// Device authorization grants (`oauth2_device_code_grants`, RFC 8628): issued to a device, decided
// in a browser, exchanged once at the token endpoint. Codes arrive here already hashed (see
// oidc/device-grant.ts). Every change of state is one UPDATE guarded by the state it leaves, so
// of two concurrent deciders or exchangers exactly one wins.
import type { Db } from './db.js';

export type DeviceGrantState = 'pending' | 'fulfilled' | 'rejected' | 'exchanged';

export interface DeviceGrant {
  id: string;
  client_id: string;
  scope: string;
  state: DeviceGrantState;
  user_code_hash: string;
  created_at: Date;
  expires_at: Date;
  last_polled_at: Date | null;
  user_id: string | null;
  grant_id: string | null;
  user_agent: string | null;
  ip_address: string | null;
}

/** Stores a new grant; false when one of its codes is taken already (the caller draws new ones). */
export async function insert(
  db: Db,
  row: {
    id: string;
    clientId: string;
    scope: string;
    deviceCodeHash: string;
    userCodeHash: string;
    createdAt: Date;
    expiresAt: Date;
    userAgent: string | null;
    ipAddress: string | null;
  },
): Promise<boolean> {
  const inserted = await db`
    INSERT INTO oauth2_device_code_grants
      (id, client_id, scope, device_code_hash, user_code_hash, created_at, expires_at, user_agent, ip_address)
    VALUES (${row.id}, ${row.clientId}, ${row.scope}, ${row.deviceCodeHash}, ${row.userCodeHash},
            ${row.createdAt}, ${row.expiresAt}, ${row.userAgent}, ${row.ipAddress})
    ON CONFLICT DO NOTHING
    RETURNING 1`;
  return inserted.length > 0;
}

export async function findById(db: Db, id: string): Promise<DeviceGrant | undefined> {
  const [row] = await db<DeviceGrant[]>`SELECT * FROM oauth2_device_code_grants WHERE id = ${id}`;
  return row;
}

/** Whatever its state or age: the token endpoint tells expired and used codes apart. */
export async function findByDeviceCode(db: Db, deviceCodeHash: string): Promise<DeviceGrant | undefined> {
  const [row] = await db<DeviceGrant[]>`
    SELECT * FROM oauth2_device_code_grants WHERE device_code_hash = ${deviceCodeHash}`;
  return row;
}

/** A grant still waiting for its user at `now`, by the code the user typed. */
export async function findPendingByUserCode(db: Db, userCodeHash: string, now: Date): Promise<DeviceGrant | undefined> {
  const [row] = await db<DeviceGrant[]>`
    SELECT * FROM oauth2_device_code_grants
    WHERE user_code_hash = ${userCodeHash} AND state = 'pending' AND expires_at > ${now}`;
  return row;
}

/**
 * Records a poll of a pending grant at `now` unless the previous one was less than
 * `minIntervalSeconds` before; false when it was (the device polls too fast) or the grant is no
 * longer pending. A refused poll does not move the mark, so a device that then keeps the
 * interval is served again.
 */
export async function recordPoll(db: Db, id: string, now: Date, minIntervalSeconds: number): Promise<boolean> {
  const rows = await db`
    UPDATE oauth2_device_code_grants SET last_polled_at = ${now}
    WHERE id = ${id} AND state = 'pending'
      AND (last_polled_at IS NULL OR last_polled_at <= ${now}::timestamptz - make_interval(secs => ${minIntervalSeconds}))
    RETURNING 1`;
  return rows.length > 0;
}

/** Approves a pending, unexpired grant for `userId` with the oidc-provider grant made for it. */
export async function fulfill(
  db: Db,
  id: string,
  decision: { userId: string; browserSessionId: string; grantId: string },
  now: Date,
): Promise<boolean> {
  const rows = await db`
    UPDATE oauth2_device_code_grants
    SET state = 'fulfilled', user_id = ${decision.userId}, browser_session_id = ${decision.browserSessionId},
        grant_id = ${decision.grantId}, decided_at = ${now}
    WHERE id = ${id} AND state = 'pending' AND expires_at > ${now}
    RETURNING 1`;
  return rows.length > 0;
}

export async function reject(db: Db, id: string, decision: { userId: string; browserSessionId: string }, now: Date): Promise<boolean> {
  const rows = await db`
    UPDATE oauth2_device_code_grants
    SET state = 'rejected', user_id = ${decision.userId}, browser_session_id = ${decision.browserSessionId}, decided_at = ${now}
    WHERE id = ${id} AND state = 'pending' AND expires_at > ${now}
    RETURNING 1`;
  return rows.length > 0;
}

/** Marks an approved grant exchanged; returns it only to the one caller that did. */
export async function exchange(db: Db, id: string, now: Date): Promise<DeviceGrant | undefined> {
  const [row] = await db<DeviceGrant[]>`
    UPDATE oauth2_device_code_grants SET state = 'exchanged', exchanged_at = ${now}
    WHERE id = ${id} AND state = 'fulfilled'
    RETURNING *`;
  return row;
}

/**
 * Undoes an exchange that gave the device no tokens (the homeserver or the database failed after
 * it): the grant is approved again, with the oidc-provider grant `grantId` made to replace the
 * one the failed exchange used, so that the device's next poll gets its tokens. False when the
 * row moved on meanwhile.
 */
export async function reopen(db: Db, id: string, exchangedGrantId: string, grantId: string): Promise<boolean> {
  const rows = await db`
    UPDATE oauth2_device_code_grants SET state = 'fulfilled', grant_id = ${grantId}, exchanged_at = NULL
    WHERE id = ${id} AND state = 'exchanged' AND grant_id = ${exchangedGrantId}
    RETURNING 1`;
  return rows.length > 0;
}

/**
 * Forgets grants that expired more than a day before `now`; returns how many. An approval that
 * was never exchanged takes its oidc-provider grant along (nothing was issued under it), which
 * would otherwise outlive it by a year.
 */
export async function pruneExpired(db: Db, now: Date): Promise<number> {
  const [row] = await db<{ pruned: number }[]>`
    WITH gone AS (
      DELETE FROM oauth2_device_code_grants WHERE expires_at < ${now}::timestamptz - interval '1 day'
      RETURNING state, grant_id
    ), unused AS (
      DELETE FROM oidc_payloads WHERE model = 'Grant' AND id IN (SELECT grant_id FROM gone WHERE state = 'fulfilled')
    )
    SELECT count(*)::int AS pruned FROM gone`;
  return row?.pruned ?? 0;
}
