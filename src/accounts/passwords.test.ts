import assert from 'node:assert/strict';
import { test } from 'node:test';
import bcrypt from 'bcryptjs';
import { PasswordHasher } from './passwords.js';

const base = { enabled: true, minimum_complexity: 3 };

// Hashes of "hunter2" with the pepper "a-secret-pepper", as MAS's own password tests record them
// (crates/handlers/src/snapshots): a hash made by MAS verifies here with the same scheme.
const MAS_PEPPER = 'a-secret-pepper';
const MAS_HASHES = {
  bcrypt: '$2b$10$c/EX8bTbEMfTn4oCvcQyBOR1zPyLmGzZ2pMXoElLASqv2qpq5X15i',
  argon2id: '$argon2id$v=19$m=19456,t=2,p=1$eEi11xG8mIOZYxej+ckCaQ$eBeygPqiuImQAaFQOkE6oVkPfqxIGgnqpQd/MwW4YX4',
  pbkdf2: '$pbkdf2-sha256$i=600000,l=32$eEi11xG8mIOZYxej+ckCaQ$uyS+Ip4DieQ9S+m1EcT+vCtuiWpQ3TsDGPLY4mwkOxc',
} as const;

test('passwords hash with argon2id at OWASP parameters and verify', async () => {
  const hasher = new PasswordHasher({ ...base, schemes: [{ version: 1, algorithm: 'argon2id' }] });
  const hashed = await hasher.hash('correct horse');
  assert.match(hashed.hash, /^\$argon2id\$v=19\$m=19456,p=1,t=2\$/);
  assert.deepEqual(await hasher.verify(hashed, 'correct horse'), { valid: true, needsRehash: false });
  assert.deepEqual(await hasher.verify(hashed, 'wrong horse'), { valid: false, needsRehash: false });
});

test('a hash from an older scheme version still verifies and asks to be rehashed', async () => {
  const v1 = new PasswordHasher({ ...base, schemes: [{ version: 1, algorithm: 'argon2id' }] });
  const v2 = new PasswordHasher({
    ...base,
    schemes: [
      { version: 1, algorithm: 'argon2id' },
      { version: 2, algorithm: 'argon2id', secret: 'pepper' },
    ],
  });
  const old = await v1.hash('secret words');
  assert.deepEqual(await v2.verify(old, 'secret words'), { valid: true, needsRehash: true });
  const fresh = await v2.hash('secret words');
  assert.equal(fresh.version, 2);
  assert.deepEqual(await v2.verify(fresh, 'secret words'), { valid: true, needsRehash: false });
  assert.equal((await v1.verify({ ...fresh, version: 1 }, 'secret words')).valid, false, 'the pepper is needed');
});

for (const algorithm of ['bcrypt', 'argon2id', 'pbkdf2'] as const) {
  test(`a ${algorithm} hash made by MAS with a pepper verifies with the same scheme, and only with it`, async () => {
    const peppered = new PasswordHasher({ ...base, schemes: [{ version: 1, algorithm, secret: MAS_PEPPER }] });
    const stored = { hash: MAS_HASHES[algorithm], version: 1 };
    assert.equal((await peppered.verify(stored, 'hunter2')).valid, true);
    assert.equal((await peppered.verify(stored, 'wrong-password')).valid, false);
    const noPepper = new PasswordHasher({ ...base, schemes: [{ version: 1, algorithm }] });
    assert.equal((await noPepper.verify(stored, 'hunter2')).valid, false);
    const otherPepper = new PasswordHasher({ ...base, schemes: [{ version: 1, algorithm, secret: 'the-wrong-pepper' }] });
    assert.equal((await otherPepper.verify(stored, 'hunter2')).valid, false);
  });
}

test("Synapse's bcrypt hashes (NFKC, then the pepper appended) verify and are upgraded to argon2id", async () => {
  // What Synapse stores: bcrypt over NFKC(password) + pepper.
  const synapseHash = bcrypt.hashSync('ﬁsh-and-chips'.normalize('NFKC') + 'synapse-pepper', 4);
  const hasher = new PasswordHasher({
    ...base,
    schemes: [
      { version: 1, algorithm: 'bcrypt', secret: 'synapse-pepper', unicode_normalization: true },
      { version: 2, algorithm: 'argon2id' },
    ],
  });
  assert.deepEqual(await hasher.verify({ hash: synapseHash, version: 1 }, 'ﬁsh-and-chips'), { valid: true, needsRehash: true });
  assert.deepEqual(await hasher.verify({ hash: synapseHash, version: 1 }, 'fish-and-chips'), { valid: true, needsRehash: true }, 'the ligature is normalised');
  const upgraded = await hasher.hash('ﬁsh-and-chips');
  assert.equal(upgraded.version, 2);
  assert.match(upgraded.hash, /^\$argon2id\$/);
});

test('bcrypt reads 72 bytes of password and pepper, as Synapse truncates them', async () => {
  const long = 'x'.repeat(70);
  const synapseHash = bcrypt.hashSync(`${long}pepper`.slice(0, 72), 4);
  const hasher = new PasswordHasher({ ...base, schemes: [{ version: 1, algorithm: 'bcrypt', secret: 'pepper', cost: 4 }] });
  assert.equal((await hasher.verify({ hash: synapseHash, version: 1 }, long)).valid, true);
});

test('bcrypt as the newest scheme hashes at its cost, and a hash of another cost is rehashed', async () => {
  const hasher = new PasswordHasher({ ...base, schemes: [{ version: 1, algorithm: 'bcrypt', cost: 5 }] });
  const hashed = await hasher.hash('a long passphrase');
  assert.match(hashed.hash, /^\$2b\$05\$/);
  assert.deepEqual(await hasher.verify(hashed, 'a long passphrase'), { valid: true, needsRehash: false });
  const cheaper = { hash: bcrypt.hashSync('a long passphrase', 4), version: 1 };
  assert.deepEqual(await hasher.verify(cheaper, 'a long passphrase'), { valid: true, needsRehash: true });
});

test("pbkdf2 as the newest scheme writes MAS's PHC format", async () => {
  const hasher = new PasswordHasher({ ...base, schemes: [{ version: 3, algorithm: 'pbkdf2', secret: 'p' }] });
  const hashed = await hasher.hash('a long passphrase');
  assert.match(hashed.hash, /^\$pbkdf2-sha256\$i=600000,l=32\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$/);
  assert.deepEqual(await hasher.verify(hashed, 'a long passphrase'), { valid: true, needsRehash: false });
  assert.equal((await hasher.verify(hashed, 'another passphrase')).valid, false);
});

test('a hash that is not of its scheme, or of an unknown version, does not verify', async () => {
  const hasher = new PasswordHasher({ ...base, schemes: [{ version: 1, algorithm: 'bcrypt' }, { version: 2, algorithm: 'pbkdf2' }] });
  assert.equal((await hasher.verify({ hash: MAS_HASHES.argon2id, version: 1 }, 'hunter2')).valid, false);
  assert.equal((await hasher.verify({ hash: MAS_HASHES.argon2id, version: 2 }, 'hunter2')).valid, false);
  assert.equal((await hasher.verify({ hash: MAS_HASHES.bcrypt, version: 7 }, 'hunter2a-secret-pepper')).valid, false);
});
