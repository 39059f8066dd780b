// Third-party identifiers (username_rewrite's media) are compared by explicit ASCII lower-casing,
// never by the database's lower(), whose collation folds look-alikes together (lower('İ') = 'i').
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import * as users from '../../src/storage/users.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';

let db: TestDatabase;
before(async () => {
  db = await createTestDatabase('threepids');
});
after(async () => {
  await db.close();
});

test('a threepid is found whatever the case of its ASCII letters, and never by a look-alike', async () => {
  const user = await users.create(db.sql, { username: 'kit' });
  await users.addThreepid(db.sql, { userId: user.id, medium: 'employee_id', address: 'Kit-42' });
  for (const typed of ['Kit-42', 'kit-42', 'KIT-42']) {
    assert.equal((await users.findByThreepid(db.sql, 'employee_id', typed))?.id, user.id, typed);
  }
  // Dotted capital I, and the Kelvin sign: the database's lower() makes both ASCII letters.
  for (const lookAlike of ['KİT-42', '\u212Ait-42']) {
    assert.equal(await users.findByThreepid(db.sql, 'employee_id', lookAlike), undefined, lookAlike);
  }
  assert.equal(await users.findByThreepid(db.sql, 'badge', 'Kit-42'), undefined, 'another medium');
});
