// Browser sessions against a real PostgreSQL: looking one up is using it, except once it has been
// idle past experimental.inactive_session_expiration.ttl, when it is expired, not revived.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { FixedClock, secondsAfter } from '../../src/clock.js';
import * as browserSessions from '../../src/storage/browser-sessions.js';
import * as users from '../../src/storage/users.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';

const TTL = 600;
let db: TestDatabase;
before(async () => {
  db = await createTestDatabase('browser');
});
after(async () => {
  await db.close();
});

const lastActive = async (id: string) =>
  (await db.sql<{ last_active_at: Date | null }[]>`SELECT last_active_at FROM browser_sessions WHERE id = ${id}`)[0].last_active_at;

test('a session idle past the ttl is refused and left as it was; within the ttl it is found and used', async () => {
  const user = await users.create(db.sql, { username: 'idler' });
  const clock = new FixedClock();
  const session = await browserSessions.create(db.sql, { secret: 'idle-secret', userId: user.id, now: clock.now() });

  const used = secondsAfter(clock.now(), TTL - 60);
  assert.equal((await browserSessions.findActive(db.sql, 'idle-secret', used, TTL))?.session.id, session.id);
  assert.equal((await lastActive(session.id))?.getTime(), used.getTime(), 'a use within the ttl moves last_active_at');

  const late = secondsAfter(used, TTL + 1);
  assert.equal(await browserSessions.findActive(db.sql, 'idle-secret', late, TTL), undefined, 'idle past the ttl: expired');
  assert.equal((await lastActive(session.id))?.getTime(), used.getTime(), 'the late use does not revive it');

  // Without expiry of browser sessions, idleness does not matter.
  assert.equal((await browserSessions.findActive(db.sql, 'idle-secret', late))?.session.id, session.id);
});

test('a session never used is measured from its creation', async () => {
  const user = await users.create(db.sql, { username: 'unused' });
  const clock = new FixedClock();
  const session = await browserSessions.create(db.sql, { secret: 'unused-secret', userId: user.id, now: clock.now() });
  const late = secondsAfter(clock.now(), TTL + 5);
  assert.equal(await browserSessions.findActive(db.sql, 'unused-secret', late, TTL), undefined, 'idle past the ttl since its creation');
  assert.equal(await lastActive(session.id), null);
  assert.equal(await lastActive(session.id), null);
});
