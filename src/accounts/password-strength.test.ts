import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkStrength } from './password-strength.js';

test('weak passwords fall short of the minimum complexity, strong ones pass', () => {
  assert.equal(checkStrength('password', 3).ok, false);
  assert.equal(checkStrength('alice2024', 3, ['alice']).ok, false);
  assert.ok(checkStrength('correct-horse-battery-staple-91', 3).ok);
  assert.ok(checkStrength('password', 0).ok);
});
