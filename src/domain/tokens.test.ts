import assert from 'node:assert/strict';
import { test } from 'node:test';
import { crc32 } from 'node:zlib';
import { randomInt } from 'node:crypto';
import { checksum, generateToken, hashSecret, tokenKind } from './tokens.js';

const csprng = { int: (max: number) => randomInt(max) };

test('generated tokens have the MAS shape and validate as their kind', () => {
  for (const kind of ['accessToken', 'refreshToken', 'compatAccessToken', 'compatRefreshToken'] as const) {
    const seen = new Set<string>();
    for (let i = 0; i < 200; i += 1) {
      const token = generateToken(kind, csprng);
      assert.match(token, /^m(at|ar|ct|cr)_[A-Za-z0-9]{30}_[0-9A-Za-z]{6}$/);
      assert.equal(tokenKind(token), kind);
      seen.add(token);
    }
    assert.equal(seen.size, 200);
  }
});

test('checksum writes base62 digits least significant first, padded on the left', () => {
  const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
  const base = 'mat_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa';
  const crc = crc32(base) >>> 0;
  assert.notEqual(crc % 62, 0); // so the first digit after the padding is non-zero
  const sum = checksum(base);
  const digits = sum.replace(/^0+/, '');
  const value = [...digits].reduce((acc, d, i) => acc + BASE62.indexOf(d) * 62 ** i, 0);
  assert.equal(value, crc);
  assert.equal(sum.length, 6);
});

test('a token with a wrong checksum, prefix or length is rejected', () => {
  const token = generateToken('accessToken', csprng);
  const last = token.at(-1) === 'A' ? 'B' : 'A';
  assert.equal(tokenKind(token.slice(0, -1) + last), undefined);
  assert.equal(tokenKind(`xyz${token.slice(3)}`), undefined);
  assert.equal(tokenKind(token.slice(1)), undefined);
  assert.equal(tokenKind('garbage'), undefined);
});

test('hashSecret is a stable SHA-256 and never the input', () => {
  assert.equal(hashSecret('abc'), 'ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0');
  assert.notEqual(hashSecret('abc'), 'abc');
});

test("Synapse's tokens, carried over by a migration, are legacy tokens: syt_, syr_ and old macaroons", () => {
  assert.equal(tokenKind('syt_YWxpY2U_GhIqVbNYbNwkEKqnXPIG_0fQTmV'), 'compatAccessToken');
  assert.equal(tokenKind('syr_YWxpY2U_vNmAjmTgPhKnIoTGkxBt_2rD6pt'), 'compatRefreshToken');
  const macaroon = Buffer.from('0021location synapse.example\n0016identifier key\n').toString('base64url');
  assert.equal(tokenKind(macaroon), 'compatAccessToken');
  assert.equal(tokenKind(Buffer.from('0021elsewhere synapse.example\n').toString('base64url')), undefined);
});
