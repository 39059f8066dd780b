import assert from 'node:assert/strict';
import { test } from 'node:test';
import { etagOf, ifMatchVersions, noneMatchHolds, parseEntityTags } from './conditions.js';

test('the ETag is the unpadded base64url SHA-256 of the body', () => {
  assert.equal(etagOf(Buffer.from('foo=bar')), 'O6iQfnolIydIjfOQ7VF8Rblt6tAzYAIZvcpxB9HT-Io');
  assert.equal(etagOf(Buffer.from('')), '47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU');
});

test('entity tags parse as RFC 9110 lists, commas inside tags included', () => {
  assert.equal(parseEntityTags('*'), '*');
  assert.deepEqual(parseEntityTags('"abc"'), [{ weak: false, opaque: 'abc' }]);
  assert.deepEqual(parseEntityTags('W/"a", "b,c" ,"d"'), [
    { weak: true, opaque: 'a' },
    { weak: false, opaque: 'b,c' },
    { weak: false, opaque: 'd' },
  ]);
  for (const bad of ['', 'abc', '"abc', '"a""b"', '"a" junk', 'W/abc', '"a"b"']) assert.equal(parseEntityTags(bad), undefined, bad);
});

test('If-Match compares strongly, If-None-Match weakly', () => {
  assert.equal(ifMatchVersions('*'), 'any');
  assert.deepEqual(ifMatchVersions(parseEntityTags('W/"a", "b"')!), ['b']);
  assert.equal(noneMatchHolds(parseEntityTags('W/"a"')!, 'a'), true);
  assert.equal(noneMatchHolds(parseEntityTags('"b"')!, 'a'), false);
  assert.equal(noneMatchHolds('*', 'a'), true);
});
