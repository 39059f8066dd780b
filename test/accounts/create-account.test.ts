// createAccount against real PostgreSQL: everything an account starts with is written in the
// caller's transaction, or nothing is.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { InvalidUsernameError, SubjectAlreadyLinkedError, createAccount } from '../../src/accounts/create-account.js';
import * as upstream from '../../src/storage/upstream.js';
import * as users from '../../src/storage/users.js';
import { createTestDatabase, seedUpstreamProvider, type TestDatabase } from '../support/database.js';

const PROVIDER = '01HFVBY12TMNTYTBV8W921M5FA';
let db: TestDatabase;

before(async () => {
  db = await createTestDatabase('accounts');
  await seedUpstreamProvider(db.sql, PROVIDER);
});
after(() => db.close());

const jobsOf = async (userId: string) => (await db.sql<{ kind: string }[]>`SELECT kind FROM jobs WHERE payload ->> 'user_id' = ${userId}`).map((j) => j.kind);

test('creates the user, password, canonical e-mails and links, and queues provision_user', async () => {
  const { user, links } = await db.sql.begin((tx) =>
    createAccount(tx, {
      username: 'Alice',
      displayName: 'Alice L.',
      canRequestAdmin: true,
      password: { hash: '$argon2id$fake', version: 1 },
      emails: [{ address: 'Alice@EXAMPLE.test', verified: true }],
      upstreamLinks: [{ providerId: PROVIDER, subject: 'kc-alice', humanAccountName: 'alice@idp', importedEmail: 'Alice@EXAMPLE.test' }],
    }),
  );
  assert.equal(user.username, 'alice');
  assert.equal(user.display_name, 'Alice L.');
  assert.equal(user.can_request_admin, true);
  assert.equal((await users.currentPassword(db.sql, user.id))?.hashed_password, '$argon2id$fake');
  assert.deepEqual(await users.verifiedEmails(db.sql, user.id), ['Alice@example.test']);
  assert.equal(links.length, 1);
  assert.equal(links[0]!.imported_email, 'Alice@example.test');
  assert.equal((await upstream.findLink(db.sql, PROVIDER, 'kc-alice'))?.user_id, user.id);
  assert.deepEqual(await jobsOf(user.id), ['provision_user']);
});

test('a subject linked already rolls the whole account back', async () => {
  await assert.rejects(
    db.sql.begin((tx) => createAccount(tx, { username: 'bob', emails: [{ address: 'bob@example.test', verified: true }], upstreamLinks: [{ providerId: PROVIDER, subject: 'kc-alice' }] })),
    SubjectAlreadyLinkedError,
  );
  assert.equal(await users.findByUsername(db.sql, 'bob'), undefined);
});

test('refuses a taken or invalid username and an address that is not one address, writing nothing', async () => {
  await assert.rejects(db.sql.begin((tx) => createAccount(tx, { username: 'ALICE' })), users.UsernameTakenError);
  await assert.rejects(db.sql.begin((tx) => createAccount(tx, { username: '12345' })), InvalidUsernameError);
  await assert.rejects(db.sql.begin((tx) => createAccount(tx, { username: 'carol', emails: [{ address: 'a@x.test, b@y.test', verified: false }] })), users.InvalidEmailError);
  assert.equal(await users.findByUsername(db.sql, 'carol'), undefined);
});
