import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { ulid } from 'ulid';
import { FixedClock, secondsAfter } from '../../src/clock.js';
import { pruneExpired } from '../../src/storage/cleanup.js';
import * as users from '../../src/storage/users.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';

let db: TestDatabase;
before(async () => {
  db = await createTestDatabase('cleanup');
});
after(async () => {
  await db.close();
});

const DAY = 24 * 3600;

test('expired rows are pruned, live ones stay', async () => {
  const { sql } = db;
  const clock = new FixedClock();
  const at = (seconds: number) => secondsAfter(clock.now(), seconds);
  const user = await users.create(sql, { username: 'keeper' });
  await sql`INSERT INTO oidc_payloads (model, id, payload, expires_at) VALUES
    ('AccessToken', 'old', '{}', ${at(-2 * DAY)}), ('AccessToken', 'live', '{}', ${at(3600)})`;
  await sql`INSERT INTO user_recovery_tickets (id, ticket_hash, user_id, email, expires_at) VALUES
    (${ulid()}, 'old', ${user.id}, 'a@b.c', ${at(-2 * DAY)}), (${ulid()}, 'live', ${user.id}, 'a@b.c', ${at(600)})`;
  for (const [id, expires] of [['old', -2 * DAY], ['live', 1200]] as const) {
    await sql`INSERT INTO oauth2_device_code_grants (id, client_id, scope, device_code_hash, user_code_hash, created_at, expires_at)
      VALUES (${id}, 'c', '', ${`d-${id}`}, ${`u-${id}`}, ${at(expires - 1200)}, ${at(expires)})`;
  }
  // Buckets and jobs are timed by the database's clock (storage/rate-limits.ts, storage/jobs.ts).
  await sql`INSERT INTO rate_limits (key, tokens, updated_at) VALUES ('old', 1, now() - interval '2 days'), ('live', 1, now())`;
  await sql`INSERT INTO jobs (id, kind, payload, status, finished_at) VALUES
    (${ulid()}, 'x', '{}', 'done', now() - interval '8 days'), (${ulid()}, 'x', '{}', 'done', now()), (${ulid()}, 'x', '{}', 'pending', null)`;

  const counts = await pruneExpired(sql, clock.now());
  assert.equal(counts.oidc_payloads, 1);
  assert.equal(counts.rate_limits, 1);
  assert.equal(counts.user_recovery_tickets, 1);
  assert.equal(counts.jobs, 1);
  assert.equal(counts.oauth2_device_code_grants, 1);
  assert.deepEqual((await sql`SELECT id FROM oauth2_device_code_grants`).map((r) => r.id), ['live']);
  assert.deepEqual((await sql`SELECT id FROM oidc_payloads`).map((r) => r.id), ['live']);
  assert.deepEqual((await sql`SELECT key FROM rate_limits`).map((r) => r.key), ['live']);
  assert.equal((await sql`SELECT 1 FROM jobs`).length, 2);
  assert.deepEqual(await pruneExpired(sql, clock.now()).then((c) => Object.values(c).every((n) => n === 0)), true, 'a second run finds nothing');

  clock.advance(DAY + 3600 + 1);
  const later = await pruneExpired(sql, clock.now());
  assert.equal(later.oidc_payloads, 1, 'a day after it expired');
  assert.equal(later.user_recovery_tickets, 1);
  assert.equal((await sql`SELECT 1 FROM oidc_payloads`).length, 0);
});

test('an approved device code that was never exchanged takes its unused grant along; an exchanged one leaves its grant', async () => {
  const { sql } = db;
  const clock = new FixedClock();
  const at = (seconds: number) => secondsAfter(clock.now(), seconds);
  const user = await users.create(sql, { username: 'approver' });
  for (const [id, state] of [['approved-only', 'fulfilled'], ['exchanged', 'exchanged']] as const) {
    await sql`INSERT INTO oidc_payloads (model, id, payload, expires_at) VALUES ('Grant', ${`grant-${id}`}, '{}', ${at(365 * DAY)})`;
    await sql`INSERT INTO oauth2_device_code_grants
      (id, client_id, scope, device_code_hash, user_code_hash, state, created_at, expires_at, user_id, grant_id, decided_at)
      VALUES (${id}, 'c', '', ${`d-${id}`}, ${`u-${id}`}, ${state}, ${at(-2 * DAY - 1200)}, ${at(-2 * DAY)}, ${user.id}, ${`grant-${id}`}, ${at(-2 * DAY - 600)})`;
  }
  const counts = await pruneExpired(sql, clock.now());
  assert.equal(counts.oauth2_device_code_grants, 2);
  const grants = await sql`SELECT id FROM oidc_payloads WHERE model = 'Grant' AND id LIKE 'grant-%' ORDER BY id`;
  assert.deepEqual(grants.map((r) => r.id), ['grant-exchanged'], 'the session of an exchanged code stays');
});
