// passwords.schemes[].unicode_normalization: the scheme hashes the NFKC form, as Synapse did, so
// differently encoded spellings of one password verify (and hashes imported from it still do).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PasswordHasher } from '../../src/accounts/passwords.js';

const LIGATURE = '\uFB01le cabinet'; // "ﬁle cabinet": NFKC turns the ligature into "fi"

test('a scheme with unicode_normalization hashes and verifies the NFKC form', async () => {
  const hasher = new PasswordHasher({ enabled: true, minimum_complexity: 3, schemes: [{ version: 1, algorithm: 'argon2id', unicode_normalization: true }] });
  const hashed = await hasher.hash(LIGATURE);
  assert.equal((await hasher.verify(hashed, 'file cabinet')).valid, true);
  assert.equal((await hasher.verify(hashed, LIGATURE)).valid, true);
  assert.equal((await hasher.verify(hashed, 'file cabinets')).valid, false);
});

test('without unicode_normalization the password is hashed as typed', async () => {
  const hasher = new PasswordHasher({ enabled: true, minimum_complexity: 3, schemes: [{ version: 1, algorithm: 'argon2id' }] });
  const hashed = await hasher.hash(LIGATURE);
  assert.equal((await hasher.verify(hashed, 'file cabinet')).valid, false);
  assert.equal((await hasher.verify(hashed, LIGATURE)).valid, true);
});
