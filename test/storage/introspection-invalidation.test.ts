// The database announces every change that can end an access token, from triggers, whatever
// storage function makes it: each one here is called and the notification it must publish on
// `mauth_introspection` is awaited; the hot writes (a token marked used, a token inserted, a
// refresh token consumed) publish nothing of their own. Notifications are delivered at commit
// only: a rolled-back change announces nothing.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';
import postgres from 'postgres';
import { ulid } from 'ulid';
import * as compat from '../../src/storage/compat.js';
import { INVALIDATION_CHANNEL } from '../../src/storage/invalidations.js';
import * as oauth2Sessions from '../../src/storage/oauth2-sessions.js';
import * as payloads from '../../src/storage/oidc-payloads.js';
import * as personal from '../../src/storage/personal-sessions.js';
import * as refreshTokens from '../../src/storage/refresh-tokens.js';
import * as users from '../../src/storage/users.js';
import { createTestDatabase, TEST_DATABASE_URL, type TestDatabase } from '../support/database.js';

let db: TestDatabase;
let listener: postgres.Sql;
const heard: string[] = [];

before(async () => {
  db = await createTestDatabase('inval');
  listener = postgres(TEST_DATABASE_URL, { max: 1, onnotice: () => {} });
  await listener.listen(INVALIDATION_CHANNEL, (payload) => heard.push(payload));
});

after(async () => {
  await listener?.end();
  await db?.close();
});

/** Waits for `payload` (other test files share the database: their payloads are ignored). */
async function heardOf(payload: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!heard.includes(payload)) {
    assert.ok(Date.now() < deadline, `${payload} was announced`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Nothing naming `id` is heard while a marker sent after `work` makes its round trip. */
async function silentAbout(id: string, work: () => Promise<unknown>): Promise<void> {
  const before = heard.length;
  await work();
  const marker = `marker:${ulid()}`;
  await db.sql`SELECT pg_notify(${INVALIDATION_CHANNEL}, ${marker})`;
  await heardOf(marker);
  assert.deepEqual(heard.slice(before).filter((p) => p.includes(id)), []);
}

const hash = () => randomBytes(32).toString('base64url');

async function user() {
  return users.create(db.sql, { username: `u${randomBytes(5).toString('hex')}` });
}

async function accessToken(accountId: string, grantId: string): Promise<string> {
  const key = hash();
  await payloads.upsert(db.sql, {
    model: 'AccessToken', key, payload: { accountId, grantId }, grantId, accountId, uid: null, userCodeHash: null,
    expiresAt: new Date(Date.now() + 300_000), scopeFromGrant: false,
  });
  return key;
}

async function grant(accountId: string): Promise<string> {
  const id = ulid();
  await payloads.upsert(db.sql, {
    model: 'Grant', key: id, payload: { accountId }, grantId: null, accountId, uid: null, userCodeHash: null, expiresAt: null, scopeFromGrant: false,
  });
  return id;
}

test('an OAuth 2.0 access token deleted, revoked with its grant, or retired by a refresh is announced; marking it used is not', async () => {
  const u = await user();
  const g = await grant(u.id);
  const used = await accessToken(u.id, g);
  await silentAbout(used, () => payloads.markAccessTokenUsed(db.sql, used));
  await payloads.destroy(db.sql, 'AccessToken', used);
  await heardOf(`token:${used}`);

  const byGrant = await accessToken(u.id, g);
  await payloads.revokeByGrantId(db.sql, 'AccessToken', g);
  await heardOf(`token:${byGrant}`);

  const inGrant = await accessToken(u.id, g);
  await payloads.destroyGrant(db.sql, g);
  await heardOf(`token:${inGrant}`);
  await heardOf(`grant:${g}`);

  const g2 = await grant(u.id);
  const replaced = await accessToken(u.id, g2);
  const refresh = hash();
  await payloads.upsert(db.sql, {
    model: 'RefreshToken', key: refresh, payload: { accountId: u.id, grantId: g2 }, grantId: g2, accountId: u.id, uid: null, userCodeHash: null,
    expiresAt: null, scopeFromGrant: false,
  });
  await refreshTokens.consumeRefreshToken(db.sql, refresh);
  await heardOf(`token:${replaced}`);
  assert.ok(!heard.includes(`token:${refresh}`), 'consuming the refresh token itself announces nothing (refresh tokens are not cached)');
});

test('an OAuth 2.0 session finished is announced by its grant', async () => {
  const u = await user();
  const g = await grant(u.id);
  await oauth2Sessions.start(db.sql, { grantId: g, userId: u.id, clientId: 'c', deviceId: 'D1', scope: 'openid' }, new Date());
  await oauth2Sessions.finishByGrantId(db.sql, g);
  await heardOf(`grant:${g}`);
});

test('a user locked, deactivated or given a new password is announced; one left alone is not', async () => {
  const locked = await user();
  await users.setLocked(db.sql, locked.id, true);
  await heardOf(`user:${locked.id}`);
  const deactivated = await user();
  await users.setDeactivated(db.sql, deactivated.id, true);
  await heardOf(`user:${deactivated.id}`);
  const reset = await user();
  await users.setPassword(db.sql, { userId: reset.id, hashedPassword: 'x', version: 1 });
  await heardOf(`user:${reset.id}`);
  const calm = await user();
  await silentAbout(calm.id, () => users.setDisplayName(db.sql, calm.id, 'Calm'));
});

test('a change rolled back announces nothing', async () => {
  const u = await user();
  await silentAbout(u.id, () =>
    db.sql
      .begin(async (tx) => {
        await users.setLocked(tx, u.id, true);
        throw new Error('roll back');
      })
      .catch(() => {}),
  );
});

test('a legacy session finished, and its access token revoked by a refresh, are announced; its activity is not', async () => {
  const u = await user();
  const session = await compat.createSession(db.sql, { userId: u.id, deviceId: `D${randomBytes(4).toString('hex')}`, admin: false }, new Date());
  const access = hash();
  const accessId = await compat.addAccessToken(db.sql, session.id, access, null);
  const refresh = hash();
  await compat.addRefreshToken(db.sql, session.id, refresh, accessId);
  await silentAbout(session.id, () => compat.recordClient(db.sql, session.id, { ip: '127.0.0.1' }));
  await compat.consumeRefreshToken(db.sql, refresh);
  await heardOf(`token:${access}`);
  await compat.finishSession(db.sql, session.id);
  await heardOf(`compat:${session.id}`);
});

test('a personal session revoked, or its token replaced, is announced', async () => {
  const u = await user();
  const now = new Date();
  const session = await personal.create(db.sql, { owner: { userId: u.id }, actorUserId: u.id, humanName: 'n', scope: 'urn:matrix:client:api:*', now });
  const first = hash();
  await personal.addToken(db.sql, { sessionId: session.id, tokenHash: first, now, expiresAt: null });
  await personal.revokeLiveToken(db.sql, session.id, now);
  await heardOf(`token:${first}`);
  await personal.revoke(db.sql, session.id, now);
  await heardOf(`personal:${session.id}`);
});
