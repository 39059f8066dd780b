// Starting and ending compatibility sessions: the device is created on the homeserver before a
// token is returned; ending a session removes its device through a job.
import { secondsAfter, type Randomness } from '../clock.js';
import type { AppContext } from '../context.js';
import { generateToken, hashSecret, randomAlphanumeric } from '../domain/tokens.js';
import { HomeserverError } from '../homeserver/index.js';
import { enqueueDeleteDevice, provisionUser } from '../jobs/homeserver-jobs.js';
import * as compat from '../storage/compat.js';
import type { Db } from '../storage/db.js';
import type { User } from '../storage/users.js';

export interface IssuedCompatSession {
  session: compat.CompatSession;
  accessToken: string;
  refreshToken?: string;
  expiresInMs?: number;
}

const DEVICE_ALPHABET = /[A-Z]/;

/** A device id in Synapse's style: ten upper-case letters. */
export function generateDeviceId(random: Randomness): string {
  let id = '';
  while (id.length < 10) {
    const c = randomAlphanumeric(1, random);
    if (DEVICE_ALPHABET.test(c)) id += c;
  }
  return id;
}

async function ensureDevice(app: AppContext, db: Db, user: User, deviceId: string, displayName?: string): Promise<void> {
  try {
    await app.homeserver.upsertDevice(user.username, deviceId, displayName);
  } catch (err) {
    // The provisioning job has not reached the homeserver yet: do its work now, then retry.
    if (!(err instanceof HomeserverError) || err.status !== 404) throw err;
    await provisionUser(db, app.homeserver, user);
    await app.homeserver.upsertDevice(user.username, deviceId, displayName);
  }
}

async function issueTokens(app: AppContext, db: Db, sessionId: string, ttlSeconds: number | undefined) {
  const accessToken = generateToken('compatAccessToken', app.random);
  const expiresAt = ttlSeconds ? secondsAfter(app.clock.now(), ttlSeconds) : null;
  const accessTokenId = await compat.addAccessToken(db, sessionId, hashSecret(accessToken), expiresAt);
  let refreshToken: string | undefined;
  if (ttlSeconds) {
    refreshToken = generateToken('compatRefreshToken', app.random);
    await compat.addRefreshToken(db, sessionId, hashSecret(refreshToken), accessTokenId);
  }
  return { accessToken, refreshToken, expiresInMs: ttlSeconds ? ttlSeconds * 1000 : undefined };
}

/**
 * A new session for `user` on `deviceId`. A live session on the same device is replaced (its
 * tokens stop working; the device itself stays, the new session uses it).
 */
export async function startCompatSession(
  app: AppContext,
  input: { user: User; deviceId: string; displayName?: string; refreshable: boolean; admin?: boolean; userAgent?: string },
): Promise<IssuedCompatSession> {
  const ttl = input.refreshable ? app.config.experimental.compat_token_ttl : undefined;
  return app.sql.begin(async (tx) => {
    // The device is created under the device lock, which a pending delete_device job of an
    // earlier session on this device takes too: the job either deletes before this creates, or
    // sees this session and leaves the device alone.
    await compat.lockDevice(tx, input.user.id, input.deviceId);
    await ensureDevice(app, tx, input.user, input.deviceId, input.displayName);
    await compat.finishLiveSessionForDevice(tx, input.user.id, input.deviceId);
    const session = await compat.createSession(
      tx,
      { userId: input.user.id, deviceId: input.deviceId, admin: input.admin ?? false, userAgent: input.userAgent },
      app.clock.now(),
    );
    return { session, ...(await issueTokens(app, tx, session.id, ttl)) };
  });
}

/** Rotates both tokens; the old access token is dead at once. Undefined when the token is not usable. */
export async function refreshCompatSession(app: AppContext, refreshToken: string): Promise<IssuedCompatSession | undefined> {
  return app.sql.begin(async (tx) => {
    const session = await compat.consumeRefreshToken(tx, hashSecret(refreshToken));
    if (!session) return undefined;
    return { session, ...(await issueTokens(app, tx, session.id, app.config.experimental.compat_token_ttl)) };
  });
}

export async function endCompatSessions(app: AppContext, sessions: (tx: Db) => Promise<compat.CompatSession[]>): Promise<number> {
  return app.sql.begin(async (tx) => {
    const ended = await sessions(tx);
    for (const s of ended) await enqueueDeleteDevice(tx, s.user_id, s.device_id);
    return ended.length;
  });
}
