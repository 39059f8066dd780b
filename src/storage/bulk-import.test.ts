import assert from 'node:assert/strict';
import { test } from 'node:test';
import { copyText } from './bulk-import.js';

test("values are written in COPY's text format: NULL, escapes, dates, booleans, JSON", () => {
  assert.equal(copyText(null), '\\N');
  assert.equal(copyText(undefined), '\\N');
  assert.equal(copyText('\\N'), '\\\\N', 'the two characters backslash-N are not NULL');
  assert.equal(copyText('a\tb\nc\rd\\e'), 'a\\tb\\nc\\rd\\\\e');
  assert.equal(copyText(new Date('2024-03-01T10:00:00Z')), '2024-03-01T10:00:00.000Z');
  assert.equal(copyText(true), 't');
  assert.equal(copyText(false), 'f');
  assert.equal(copyText(42), '42');
  assert.equal(copyText({ scope: 'a\tb', n: [1] }), '{"scope":"a\\\\tb","n":[1]}');
});
