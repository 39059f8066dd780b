import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PasswordHasher } from './passwords.js';

test('passwords hash with argon2id at OWASP parameters and verify', async () => {
  const hasher = new PasswordHasher({ enabled: true, minimum_complexity: 3, schemes: [{ version: 1, algorithm: 'argon2id' }] });
  const hashed = await hasher.hash('correct horse');
  assert.match(hashed.hash, /^\$argon2id\$v=19\$m=19456,p=1,t=2\$/);
  assert.deepEqual(await hasher.verify(hashed, 'correct horse'), { valid: true, needsRehash: false });
  assert.deepEqual(await hasher.verify(hashed, 'wrong horse'), { valid: false, needsRehash: false });
});

test('a hash from an older scheme version still verifies and asks to be rehashed', async () => {
  const v1 = new PasswordHasher({ enabled: true, minimum_complexity: 3, schemes: [{ version: 1, algorithm: 'argon2id' }] });
  const v2 = new PasswordHasher({
    enabled: true,
    minimum_complexity: 3,
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
