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

async function ensureDevice(app: AppContext, user: User, deviceId: string, displayName?: string): Promise<void> {
  try {
    await app.homeserver.upsertDevice(user.username, deviceId, displayName);
  } catch (err) {
    // The provisioning job has not reached the homeserver yet: do its work now, then retry.
    if (!(err instanceof HomeserverError) || err.status !== 404) throw err;
    await provisionUser(app.sql, app.homeserver, user);
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
 * Where a login stands: the device is held by another live session, or the new session is
 * committed (on a free device, before its device was confirmed; or replacing the holder, after).
 */
type Handover =
  | { kind: 'held'; holder: compat.CompatSession }
  | { kind: 'fresh' | 'replaced'; issued: IssuedCompatSession };

/**
 * A new session for `user` on `deviceId`. A live session on the same device is replaced (its
 * tokens stop working; the device itself stays, the new session uses it).
 *
 * No transaction is open while the homeserver is asked for the device: a stalled homeserver (up
 * to three calls of 10 s) must not hold a database connection, or a few logins take the whole
 * pool. The tokens only reach the client once the device exists.
 *
 * A free device: the session is committed first, then the device created, and the session ended
 * again (its device deleted by a job) if that fails. A `delete_device` job of an earlier session
 * on this device sees the committed session and leaves the device alone, or, if it checked just
 * before, re-creates the device after deleting it (jobs/homeserver-jobs.ts).
 *
 * A device held by a live session: the device is confirmed on the homeserver first, and only
 * then is the holder replaced. Should the homeserver fail, the holder keeps working and the
 * device (with its encryption keys) stays; replacing it first would lose both.
 */
export async function startCompatSession(
  app: AppContext,
  input: { user: User; deviceId: string; displayName?: string; refreshable: boolean; admin?: boolean; userAgent?: string; ipAddress?: string },
): Promise<IssuedCompatSession> {
  const { user, deviceId } = input;
  const ttl = input.refreshable ? app.config.experimental.compat_token_ttl : undefined;
  const create = async (tx: Db): Promise<IssuedCompatSession> => {
    const session = await compat.createSession(
      tx,
      { userId: user.id, deviceId, admin: input.admin ?? false, userAgent: input.userAgent, ipAddress: input.ipAddress, humanName: input.displayName },
      app.clock.now(),
    );
    return { session, ...(await issueTokens(app, tx, session.id, ttl)) };
  };
  // Concurrent logins on one device take its lock in turn, each replacing the one before.
  const underLock = <T>(work: (tx: Db) => Promise<T>) =>
    app.sql.begin(async (tx) => {
      await compat.lockDevice(tx, user.id, deviceId);
      return work(tx);
    });

  let step: Handover = await underLock(async (tx): Promise<Handover> => {
    const holder = await compat.findLiveSessionForDevice(tx, user.id, deviceId);
    return holder ? { kind: 'held', holder } : { kind: 'fresh', issued: await create(tx) };
  });
  // Each further round means another login on this device won its round: the loop ends once
  // the (rate-limited) logins racing for the device have had their turn.
  while (step.kind === 'held') {
    // Nothing changed yet: a failure here leaves the holder and its device as they were.
    await ensureDevice(app, user, deviceId, input.displayName);
    const holder = step.holder;
    step = await underLock(async (tx): Promise<Handover> => {
      // Held from before the call until now, the device was never free to be deleted.
      if (await compat.finishSession(tx, holder.id)) return { kind: 'replaced', issued: await create(tx) };
      // Another login replaced the holder meanwhile: confirm the device for its successor.
      const next = await compat.findLiveSessionForDevice(tx, user.id, deviceId);
      return next ? { kind: 'held', holder: next } : { kind: 'fresh', issued: await create(tx) };
    });
  }
  const { issued } = step;
  if (step.kind === 'replaced') return issued;
  try {
    await ensureDevice(app, user, deviceId, input.displayName);
  } catch (err) {
    // Unusable tokens: end the session; the device, if any part of it exists, goes unless
    // another live session holds it by then.
    await endCompatSessions(app, async (tx) => {
      const ended = await compat.finishSession(tx, issued.session.id);
      return ended ? [ended] : [];
    }).catch((undoErr: unknown) => app.log.error({ err: undoErr, session_id: issued.session.id }, 'could not end a legacy session whose device was not created'));
    throw err;
  }
  return issued;
}

/** Rotates both tokens; the old access token is dead at once. Undefined when the token is not usable. */
export async function refreshCompatSession(
  app: AppContext,
  refreshToken: string,
  seen: { ip?: string; userAgent?: string } = {},
): Promise<IssuedCompatSession | undefined> {
  return app.sql.begin(async (tx) => {
    const session = await compat.consumeRefreshToken(tx, hashSecret(refreshToken));
    if (!session) return undefined;
    await compat.recordClient(tx, session.id, seen);
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
