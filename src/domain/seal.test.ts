// Upstream provider secrets used to be sealed by their own module (upstream/secrets.ts), with the
// same JWE (dir, A256GCM) plus a `cty: mauth-upstream-secret` header. `unseal` must keep reading
// what that module wrote, or providers stored before the merge would need `config sync` again.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CompactEncrypt } from 'jose';
import { seal, unseal } from './seal.js';

const KEY = 'a'.repeat(64);

test('unseal reads what seal wrote', async () => {
  assert.equal(await unseal(KEY, await seal(KEY, 'client-secret')), 'client-secret');
});

test('unseal reads the former upstream secret format (content type header)', async () => {
  const legacy = await new CompactEncrypt(new TextEncoder().encode('-----BEGIN PRIVATE KEY-----\nx'))
    .setProtectedHeader({ alg: 'dir', enc: 'A256GCM', cty: 'mauth-upstream-secret' })
    .encrypt(Uint8Array.from(Buffer.from(KEY, 'hex')));
  assert.equal(await unseal(KEY, legacy), '-----BEGIN PRIVATE KEY-----\nx');
});

test('unseal refuses a value sealed under another key', async () => {
  await assert.rejects(unseal('b'.repeat(64), await seal(KEY, 'client-secret')));
});
