// User e-mail addresses against real PostgreSQL: stored in canonical form, compared by the
// explicit key (never the collation's lower()), and the migration that brought the key to
// addresses written before it.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { copyFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import postgres from 'postgres';
import { parseEmailAddress, type EmailAddress } from '../../src/domain/email-address.js';
import type { Sql } from '../../src/storage/db.js';
import { MIGRATIONS_DIR, listMigrations, migrate } from '../../src/storage/migrate.js';
import * as users from '../../src/storage/users.js';
import { TEST_DATABASE_URL } from '../support/database.js';

const KEY_MIGRATION = '20261130000500_user_email_keys.sql';
const schema = `emails_${randomBytes(6).toString('hex')}`;
let sql: Sql;
let legacy: Record<string, string>;

function address(input: string): EmailAddress {
  const parsed = parseEmailAddress(input);
  assert.ok(parsed.ok, input);
  return parsed.value;
}

before(async () => {
  const admin = postgres(TEST_DATABASE_URL, { max: 1, onnotice: () => {} });
  await admin.unsafe(`CREATE SCHEMA "${schema}"`);
  await admin.end();
  sql = postgres(TEST_DATABASE_URL, { max: 4, onnotice: () => {}, connection: { search_path: schema }, transform: { undefined: null } });

  // The schema as it was before the key migration, with addresses written the old way.
  const earlier = await mkdtemp(join(tmpdir(), 'mauth-migrations-'));
  for (const file of (await listMigrations()).filter((f) => f < KEY_MIGRATION)) await copyFile(join(MIGRATIONS_DIR, file), join(earlier, file));
  await migrate(sql, earlier);
  await rm(earlier, { recursive: true });
  legacy = {};
  for (const [name, email] of [
    ['upper', 'Carol@GMAIL.Example'],
    ['list', 'mallory@evil.test,nobody@example.test'],
    ['named', 'Mallory <mallory@evil.test>'],
    ['unicode', 'uli@Bücher.example'],
  ]) {
    const user = await users.create(sql, { username: `legacy-${name}` });
    await sql`INSERT INTO user_emails (id, user_id, email, verified_at) VALUES (${`E${name}`}, ${user.id}, ${email}, now())`;
    legacy[name] = user.id;
  }
  await migrate(sql);
});

after(async () => {
  await sql.unsafe(`DROP SCHEMA "${schema}" CASCADE`);
  await sql.end({ timeout: 5 });
});

test('the migration lower-cases ASCII domains and unverifies strings that are no single address', async () => {
  const rows = await sql<{ user_id: string; email: string; email_key: string; verified: boolean }[]>`
    SELECT user_id, email, email_key, verified_at IS NOT NULL AS verified FROM user_emails`;
  const of = (name: string) => rows.find((r) => r.user_id === legacy[name])!;
  const upper = of('upper');
  assert.deepEqual([upper.email, upper.email_key, upper.verified], ['Carol@gmail.example', 'carol@gmail.example', true]);
  assert.equal(of('list').verified, false);
  assert.equal(of('named').verified, false);
  assert.equal(of('unicode').verified, true, 'a Unicode domain stays as it was');
  assert.deepEqual((await users.findByVerifiedEmail(sql, address('CAROL@gmail.example'))).map((u) => [u.id, u.verified_email]), [[legacy.upper, 'Carol@gmail.example']]);
  assert.equal((await users.findByVerifiedEmail(sql, address('nobody@example.test'))).length, 0);
});

test('a look-alike address never finds an account, although PostgreSQL lower() would say they are equal', async () => {
  const carol = await users.create(sql, { username: 'carol' });
  await users.addEmail(sql, { userId: carol.id, email: 'carol@gmail.test', verified: true });
  const [{ collationSaysEqual }] = await sql<{ collationSaysEqual: boolean }[]>`
    SELECT lower('carol@gmaİl.test') = lower('carol@gmail.test') AS "collationSaysEqual"`;
  assert.equal(collationSaysEqual, true, 'the trap this test is about exists in this database');
  assert.equal((await users.findByVerifiedEmail(sql, address('carol@gmaİl.test'))).length, 0);
  assert.deepEqual((await users.findByVerifiedEmail(sql, address('Carol@GMAIL.test'))).map((u) => u.username), ['carol']);
});

test('addresses are stored canonically, once per mailbox, and a list is refused', async () => {
  const bob = await users.create(sql, { username: 'bob' });
  const first = await users.addEmail(sql, { userId: bob.id, email: 'Bob@Bücher.Example', verified: false });
  assert.equal(first.email, 'Bob@xn--bcher-kva.example');
  const again = await users.addEmail(sql, { userId: bob.id, email: 'BOB@xn--BCHER-kva.example', verified: true });
  assert.equal(again.id, first.id, 'another spelling of the same mailbox is the same row');
  assert.ok(again.verified_at);
  assert.equal((await users.listEmails(sql, bob.id)).length, 1);
  await assert.rejects(users.addEmail(sql, { userId: bob.id, email: 'bob@evil.test,bob@example.test', verified: true }), users.InvalidEmailError);
  assert.equal((await users.listEmails(sql, bob.id)).length, 1);
});
