// experimental.inactive_session_expiration against a real PostgreSQL: uses recorded in batches
// by introspection and browsers, and the sweep that ends idle sessions through the logout paths.
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, test } from 'node:test';
import { pino } from 'pino';
import { endCompatSessions } from '../../src/compat/sessions.js';
import type { Config } from '../../src/config/types.js';
import type { AppContext } from '../../src/context.js';
import { generateToken, hashSecret } from '../../src/domain/tokens.js';
import { expireInactiveSessions, type InactiveSessionExpiration, type SessionEnders } from '../../src/jobs/session-expiry.js';
import { createAdapterClass } from '../../src/oidc/adapter.js';
import { grantDestroyer } from '../../src/oidc/grants.js';
import { createIntrospector } from '../../src/oidc/introspection.js';
import { SessionActivity } from '../../src/oidc/session-activity.js';
import * as browserSessions from '../../src/storage/browser-sessions.js';
import * as compat from '../../src/storage/compat.js';
import type { Sql } from '../../src/storage/db.js';
import * as oauth2Sessions from '../../src/storage/oauth2-sessions.js';
import { ACTIVITY_FLUSH_SECONDS, recordActivity } from '../../src/storage/session-activity.js';
import * as users from '../../src/storage/users.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { FixedClock, secondsAfter, systemRandomness } from '../../src/clock.js';

const log = pino({ level: 'silent' });
const ENCRYPTION = 'cd'.repeat(32);
const SECRET = 'introspection-secret';
const TTL = 600;
let db: TestDatabase;
let userId: string;
let serial = 0;
/** Every test starts at the present (browser sessions are created at the database's time). */
let clock: FixedClock;

before(async () => {
  db = await createTestDatabase('expiry');
});
after(async () => {
  await db.close();
});
beforeEach(async () => {
  clock = new FixedClock(Date.now());
  userId = (await users.create(db.sql, { username: `u${++serial}` })).id;
});

const config = {
  http: { issuer: 'https://auth.test/', public_base: 'https://auth.test/' },
  matrix: { secret: SECRET },
  clients: [],
  experimental: { compat_token_ttl: 300 },
} as unknown as Config;
const app = (): AppContext => ({ config, sql: db.sql, log, homeserver: undefined as never, clock, random: systemRandomness });

/** A live legacy session, started now, with an access token that does not expire; returns the token. */
async function compatSession(deviceId: string): Promise<{ id: string; token: string }> {
  const session = await compat.createSession(db.sql, { userId, deviceId, admin: false }, clock.now());
  const token = generateToken('compatAccessToken', systemRandomness);
  await compat.addAccessToken(db.sql, session.id, hashSecret(token), null);
  return { id: session.id, token };
}

/**
 * An OAuth 2.0 session as oidc-provider leaves it: a grant, an access token, the session row.
 * The token lives an hour, longer than the idle times below.
 */
async function oauthSession(grantId: string, deviceId: string): Promise<string> {
  const Adapter = createAdapterClass(db.sql, clock, { encryptionSecret: ENCRYPTION });
  const scope = `urn:matrix:client:api:* urn:matrix:client:device:${deviceId}`;
  await new Adapter('Grant').upsert(grantId, { jti: grantId, accountId: userId, kind: 'Grant', openid: { scope } } as never, 7200);
  const token = generateToken('accessToken', systemRandomness);
  const exp = Math.floor(secondsAfter(clock.now(), 3600).getTime() / 1000);
  await new Adapter('AccessToken').upsert(token, { jti: token, accountId: userId, grantId, clientId: 'c1', kind: 'AccessToken', scope, exp } as never, 3600);
  await oauth2Sessions.start(db.sql, { grantId, userId, clientId: 'c1', deviceId, scope }, clock.now());
  return token;
}

/** Uses of sessions now, as introspection and browsers record them. */
async function use(sessions: { compat?: string[]; oauth?: string[]; browser?: string[] }) {
  const now = clock.now();
  const at = (ids: string[] = []) => new Map(ids.map((id) => [id, now]));
  await recordActivity(db.sql, { compat: at(sessions.compat), oauth: at(sessions.oauth) });
  for (const secret of sessions.browser ?? []) assert.ok(await browserSessions.findActive(db.sql, secret, now));
}

async function lastActive(table: 'compat_sessions' | 'oauth2_sessions' | 'browser_sessions', column: 'id' | 'grant_id', id: string) {
  const [row] = await db.sql<{ last_active_at: Date | null; finished_at: Date | null }[]>`
    SELECT last_active_at, finished_at FROM ${db.sql(table)} WHERE ${db.sql(column)} = ${id}`;
  return row;
}

function introspectWith(activity: SessionActivity) {
  const introspect = createIntrospector(app(), activity);
  return async (token: string) =>
    (await introspect({ authorization: `Bearer ${SECRET}`, supportsDeviceId: true, body: { token, token_type_hint: 'access_token' } })).body;
}

describe('recording session activity', () => {
  test('introspection writes no activity per request; one statement per flush records every session used', async () => {
    const legacy = await compatSession('DEVACTIVITY1');
    const oauthToken = await oauthSession('grant-activity', 'DEVACTIVITY2');
    let statements = 0;
    const counting = ((...args: Parameters<Sql>) => {
      statements += 1;
      return (db.sql as unknown as (...a: unknown[]) => unknown)(...args);
    }) as unknown as Sql;
    const activity = new SessionActivity(counting, log, clock, { flushIntervalMs: 3_600_000 });
    const introspect = introspectWith(activity);
    for (let i = 0; i < 5; i++) {
      assert.equal((await introspect(legacy.token)).active, true);
      assert.equal((await introspect(oauthToken)).active, true);
    }
    assert.equal(statements, 0, 'nothing written while answering');
    assert.equal((await lastActive('compat_sessions', 'id', legacy.id)).last_active_at, null);

    const usedAt = clock.now();
    clock.advance(3);
    await activity.flush();
    assert.equal(statements, 1, 'one statement for the whole batch');
    const compatRow = await lastActive('compat_sessions', 'id', legacy.id);
    const oauthRow = await lastActive('oauth2_sessions', 'grant_id', 'grant-activity');
    for (const row of [compatRow, oauthRow]) {
      assert.ok(row.last_active_at, 'the use is recorded');
      assert.equal(row.last_active_at.getTime(), usedAt.getTime(), 'at the time of the use, not of the flush');
    }
    await activity.flush();
    assert.equal(statements, 1, 'an empty batch writes nothing');
    await activity.close();
  });

  test('close() writes the uses still held', async () => {
    const legacy = await compatSession('DEVCLOSE0001');
    const activity = new SessionActivity(db.sql, log, clock, { flushIntervalMs: 3_600_000 });
    await introspectWith(activity)(legacy.token);
    await activity.close();
    assert.ok((await lastActive('compat_sessions', 'id', legacy.id)).last_active_at);
  });

  test('a use after the session was already idle past the ttl does not revive it', async () => {
    const stale = await compatSession('DEVSTALE0001');
    const fresh = await compatSession('DEVFRESH0001');
    await use({ compat: [stale.id] });
    clock.advance(65);
    await use({ compat: [fresh.id] });
    clock.advance(TTL - 60); // stale: idle TTL + 5 s; fresh: TTL - 60 s
    const staleBefore = (await lastActive('compat_sessions', 'id', stale.id)).last_active_at;
    const now = clock.now();
    const written = await recordActivity(db.sql, { oauth: new Map(), compat: new Map([[stale.id, now], [fresh.id, now]]) }, TTL);
    assert.deepEqual(written, { oauth: 0, compat: 1 });
    assert.deepEqual((await lastActive('compat_sessions', 'id', stale.id)).last_active_at, staleBefore);
    assert.equal((await lastActive('compat_sessions', 'id', fresh.id)).last_active_at?.getTime(), now.getTime());
  });

  test('using a browser session records it, at most every few seconds', async () => {
    const secret = `browser-${serial}`;
    const session = await browserSessions.create(db.sql, { secret, userId , now: clock.now() });
    assert.equal((await lastActive('browser_sessions', 'id', session.id)).last_active_at, null);
    const first = clock.now();
    assert.ok(await browserSessions.findActive(db.sql, secret, first));
    assert.equal((await lastActive('browser_sessions', 'id', session.id)).last_active_at?.getTime(), first.getTime());
    clock.advance(ACTIVITY_FLUSH_SECONDS - 1);
    assert.ok(await browserSessions.findActive(db.sql, secret, clock.now()));
    assert.equal((await lastActive('browser_sessions', 'id', session.id)).last_active_at?.getTime(), first.getTime());
    clock.advance(2);
    assert.ok(await browserSessions.findActive(db.sql, secret, clock.now()));
    assert.equal((await lastActive('browser_sessions', 'id', session.id)).last_active_at?.getTime(), clock.now().getTime());
  });
});

describe('the inactivity sweep', () => {
  const settings = (overrides: Partial<InactiveSessionExpiration> = {}): InactiveSessionExpiration => ({
    ttl: TTL,
    expire_compat_sessions: true,
    expire_oauth_sessions: true,
    expire_user_sessions: true,
    ...overrides,
  });
  const enders = (): SessionEnders => ({
    destroyGrant: grantDestroyer(db.sql),
    endCompatSessions: (select) => endCompatSessions(app(), select),
  });

  beforeEach(async () => {
    await db.sql`UPDATE compat_sessions SET finished_at = now() WHERE finished_at IS NULL`;
    await db.sql`UPDATE oauth2_sessions SET finished_at = now() WHERE finished_at IS NULL`;
    await db.sql`UPDATE browser_sessions SET finished_at = now() WHERE finished_at IS NULL`;
    await db.sql`DELETE FROM jobs`;
  });

  async function deleteDeviceJobs(): Promise<string[]> {
    const rows = await db.sql<{ device_id: string }[]>`SELECT payload ->> 'device_id' AS device_id FROM jobs WHERE kind = 'delete_device'`;
    return rows.map((r) => r.device_id).sort();
  }

  test('ends each kind idle past the ttl (or never used since long), as a logout would; sessions in use stay', async () => {
    const idleCompat = await compatSession('DEVIDLECOMPAT');
    const unusedCompat = await compatSession('DEVUNUSEDCOMPAT');
    const activeCompat = await compatSession('DEVACTIVECOMPAT');
    const idleOauthToken = await oauthSession('grant-idle', 'DEVIDLEOAUTH');
    await oauthSession('grant-active', 'DEVACTIVEOAUTH');
    await browserSessions.create(db.sql, { secret: `idle-${serial}`, userId, now: clock.now() });
    await browserSessions.create(db.sql, { secret: `active-${serial}`, userId, now: clock.now() });
    await use({ compat: [idleCompat.id], oauth: ['grant-idle'], browser: [`idle-${serial}`] });
    clock.advance(TTL + 30);
    await use({ compat: [activeCompat.id], oauth: ['grant-active'], browser: [`active-${serial}`] });
    clock.advance(30); // idle ones: unused for TTL + 60 s (the unused one since it started); active ones: 30 s
    const newCompat = await compatSession('DEVNEWCOMPAT');

    const activity = new SessionActivity(db.sql, log, clock, { flushIntervalMs: 3_600_000 });
    const introspect = introspectWith(activity);
    for (const token of [idleCompat.token, unusedCompat.token, idleOauthToken]) assert.equal((await introspect(token)).active, true);

    const ended = await expireInactiveSessions(db.sql, settings(), enders(), clock.now());
    assert.deepEqual(ended, { oauth: 1, compat: 2, browser: 1 });

    assert.equal((await introspect(idleCompat.token)).active, false);
    assert.equal((await introspect(unusedCompat.token)).active, false);
    assert.equal((await introspect(idleOauthToken)).active, false, 'the grant and its tokens are gone');
    assert.equal((await introspect(activeCompat.token)).active, true);
    assert.equal((await introspect(newCompat.token)).active, true, 'a recent session never used yet stays');
    await activity.close();

    assert.ok((await lastActive('oauth2_sessions', 'grant_id', 'grant-idle')).finished_at);
    assert.equal((await lastActive('oauth2_sessions', 'grant_id', 'grant-active')).finished_at, null);
    const [{ grants }] = await db.sql<{ grants: number }[]>`SELECT count(*)::int AS grants FROM oidc_payloads WHERE grant_id = 'grant-idle' OR id = 'grant-idle'`;
    assert.equal(grants, 0);
    assert.equal(await browserSessions.findActive(db.sql, `idle-${serial}`, clock.now()), undefined);
    assert.ok(await browserSessions.findActive(db.sql, `active-${serial}`, clock.now()));
    assert.deepEqual(await deleteDeviceJobs(), ['DEVIDLECOMPAT', 'DEVIDLEOAUTH', 'DEVUNUSEDCOMPAT']);
  });

  test('kinds switched off are left alone', async () => {
    const legacy = await compatSession('DEVKEPTCOMPAT');
    await oauthSession('grant-kept', 'DEVKEPTOAUTH');
    const browser = await browserSessions.create(db.sql, { secret: `kept-${serial}`, userId, now: clock.now() });
    await use({ compat: [legacy.id], oauth: ['grant-kept'], browser: [`kept-${serial}`] });
    clock.advance(TTL + 60);

    const off = settings({ expire_compat_sessions: false, expire_oauth_sessions: false, expire_user_sessions: false });
    assert.deepEqual(await expireInactiveSessions(db.sql, off, enders(), clock.now()), { oauth: 0, compat: 0, browser: 0 });
    assert.equal((await lastActive('compat_sessions', 'id', legacy.id)).finished_at, null);
    assert.equal((await lastActive('oauth2_sessions', 'grant_id', 'grant-kept')).finished_at, null);
    assert.equal((await lastActive('browser_sessions', 'id', browser.id)).finished_at, null);
    assert.deepEqual(await deleteDeviceJobs(), []);

    assert.deepEqual(await expireInactiveSessions(db.sql, settings({ expire_oauth_sessions: false, expire_user_sessions: false }), enders(), clock.now()), {
      oauth: 0,
      compat: 1,
      browser: 0,
    });
  });
});
