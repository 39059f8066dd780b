// Upstream authorization sessions expire an hour after they start, by the application's clock:
// the clock is moved, nothing sleeps.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { FixedClock } from '../../src/clock.js';
import * as upstream from '../../src/storage/upstream.js';
import { createTestDatabase, seedUpstreamProvider, type TestDatabase } from '../support/database.js';

const PROVIDER = '01HFVBY12TMNTYTBV8W921M5FA';
let db: TestDatabase;

before(async () => {
  db = await createTestDatabase('upstream');
  await seedUpstreamProvider(db.sql, PROVIDER);
});
after(() => db.close());

test('a session completes within its lifetime, once', async () => {
  const clock = new FixedClock();
  const session = await upstream.createSession(db.sql, { providerId: PROVIDER, stateHash: 'h1', nextPath: '/', now: clock.now() });
  clock.advance(upstream.SESSION_TTL_SECONDS - 1);
  assert.equal((await upstream.completeSession(db.sql, session.id, 'h1', clock.now()))?.id, session.id);
  assert.equal(await upstream.completeSession(db.sql, session.id, 'h1', clock.now()), undefined, 'used once');
  assert.equal((await upstream.findSession(db.sql, session.id, clock.now()))?.id, session.id);
});

test('a session older than its lifetime is neither found, completed nor consumed', async () => {
  const clock = new FixedClock();
  const started = await upstream.createSession(db.sql, { providerId: PROVIDER, stateHash: 'h2', nextPath: '/', now: clock.now() });
  const completed = await upstream.createSession(db.sql, { providerId: PROVIDER, stateHash: 'h3', nextPath: '/', now: clock.now() });
  assert.ok(await upstream.completeSession(db.sql, completed.id, 'h3', clock.now()));
  clock.advance(upstream.SESSION_TTL_SECONDS);
  assert.equal(await upstream.findSession(db.sql, started.id, clock.now()), undefined);
  assert.equal(await upstream.completeSession(db.sql, started.id, 'h2', clock.now()), undefined);
  assert.equal(await upstream.consumeSession(db.sql, completed.id, { linkId: 'L', browserSessionId: 'B', now: clock.now() }), false);
});
