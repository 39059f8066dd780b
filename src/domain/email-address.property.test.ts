// Property tests of the address parser against nodemailer's own reading of addresses: whatever
// the parser accepts, nodemailer must see as exactly one recipient, the accepted address itself.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import addressparser from 'nodemailer/lib/addressparser';
import MimeNode from 'nodemailer/lib/mime-node';
import { asciiLower, parseEmailAddress, type ParsedEmail } from './email-address.js';

const RUNS = 3000;

/** The SMTP envelope nodemailer would build for a message to `to`. */
function envelopeTo(to: string): string[] {
  const node = new MimeNode('text/plain');
  node.setHeader('To', to);
  return node.getEnvelope().to;
}

const HOSTILE = [
  'a@b.test,c@d.test',
  'mallory@evil.test,nobody@example.test',
  'mallory@evil.test;nobody@example.test',
  '"x,y"@a.test',
  '"x@evil.test"@a.test',
  'a@b.test <c@d.test>',
  'Name <c@d.test>',
  '<c@d.test>',
  'group: a@b.test, c@d.test;',
  'a@b.test (c@d.test)',
  'a@b.test\r\nBcc: c@d.test',
  'a@b.test\nc@d.test',
  'a@b.test\u0000c@d.test',
  'a\u0000@b.test',
  'carol@gmaİl.example',
  'carol@gmaıl.example',
  'cаrol@gmail.example',
  'carol@ｇｍａｉｌ.example',
  'carol＠gmail.example',
  'carol@gmail．example',
  'carol@gma\u200bil.example',
  'carol\u202e@gmail.example',
  'a%evil.test@example.test',
  'evil.test!a@example.test',
  '=?utf-8?q?a=40evil.test=2C?=@example.test',
  '=?utf-8?b?YUBiLnRlc3QsY0BkLnRlc3Q=?=',
  'a@[127.0.0.1]',
  'a@0x7f.1',
  'a@b@c.test',
  'a\\,b@c.test',
  '@',
  '',
];

// Pieces that make up plausible and hostile addresses.
const piece = fc.constantFrom(
  'a', 'Z', '0', '.', '..', '-', '_', '+', "'", '%', '!', '#', '=?', '?=', '@', '@@', ',', ';', ':', '<', '>', '(', ')',
  '"', '\\', '[', ']', ' ', '\t', '\r\n', '\n', '\u0000', '\u0085', '\u00a0', '\u200b', '\u202e', '\ufeff', 'İ', 'ı', 'ſ',
  'K', 'ß', 'ü', 'а', 'ｇ', '＠', '．', '。', '⒈', 'xn--', 'xn--bcher-kva', 'example', 'test', 'gmail', '\ud800', '😀',
);
const assembled = fc.array(piece, { maxLength: 24 }).map((parts) => parts.join(''));
const addressLike = fc
  .tuple(fc.array(piece, { minLength: 1, maxLength: 8 }), fc.array(piece, { minLength: 1, maxLength: 8 }))
  .map(([local, domain]) => `${local.join('')}@${domain.join('')}`);
const anyInput = fc.oneof(
  fc.constantFrom(...HOSTILE),
  assembled,
  addressLike,
  fc.string({ unit: 'binary', maxLength: 80 }),
  fc.string({ unit: 'grapheme', maxLength: 80 }),
  fc.emailAddress(),
  fc.array(fc.emailAddress(), { minLength: 2, maxLength: 4 }).chain((list) => fc.constantFrom(list.join(','), list.join(';'), list.join(' '), list.join(', '))),
);

function parse(input: string, smtpUtf8: boolean): ParsedEmail {
  try {
    return parseEmailAddress(input, { smtpUtf8 });
  } catch (err) {
    assert.fail(`parseEmailAddress threw on ${JSON.stringify(input)}: ${(err as Error).message}`);
  }
}

test('no input makes the parser throw; every refusal carries a message', () => {
  fc.assert(
    fc.property(anyInput, fc.boolean(), (input, smtpUtf8) => {
      const parsed = parse(input, smtpUtf8);
      if (!parsed.ok) assert.ok(parsed.message.length > 0);
    }),
    { numRuns: RUNS },
  );
});

test('an accepted address is exactly one recipient for nodemailer, the address itself', () => {
  fc.assert(
    fc.property(anyInput, fc.boolean(), (input, smtpUtf8) => {
      const parsed = parse(input, smtpUtf8);
      if (!parsed.ok) return;
      const { address, key } = parsed.value;
      assert.deepEqual(addressparser(address, { flatten: true }), [{ address, name: '' }], JSON.stringify(input));
      assert.deepEqual(addressparser(input, { flatten: true }).length, 1, JSON.stringify(input));
      if (!smtpUtf8) {
        assert.deepEqual(envelopeTo(address), [address], JSON.stringify(input));
        assert.deepEqual(envelopeTo(input).length, 1, JSON.stringify(input));
        assert.match(address, /^[\x21-\x7e]+$/, 'stored addresses are printable ASCII');
      }
      assert.equal(key, asciiLower(address), 'the key is the ASCII-lower-cased address (the stored email_key column)');
      assert.deepEqual(parse(address, smtpUtf8), parsed, 'the stored form parses to itself');
    }),
    { numRuns: RUNS },
  );
});

test('whatever nodemailer reads as several recipients is refused', () => {
  fc.assert(
    fc.property(anyInput, fc.boolean(), (input, smtpUtf8) => {
      if (addressparser(input, { flatten: true }).length > 1) assert.equal(parse(input, smtpUtf8).ok, false, JSON.stringify(input));
    }),
    { numRuns: RUNS },
  );
});

test('the known hostile inputs are refused, but for spellings IDNA maps onto one plain domain', () => {
  // Fullwidth letters and other full stops are the same host name to IDNA: one mailbox, and the
  // stored form is the plain one. `gmaİl` is a different (registrable) domain and stays different.
  const accepted: Record<string, string> = {
    'carol@gmaİl.example': 'carol@xn--gmail-bgd.example',
    'carol@gmaıl.example': 'carol@xn--gmal-nza.example',
    'carol@ｇｍａｉｌ.example': 'carol@gmail.example',
    'carol@gmail．example': 'carol@gmail.example',
  };
  for (const input of HOSTILE) {
    const parsed = parse(input, false);
    if (!(input in accepted)) {
      assert.equal(parsed.ok, false, JSON.stringify(input));
      continue;
    }
    assert.ok(parsed.ok, input);
    assert.equal(parsed.value.address, accepted[input]);
    assert.deepEqual(envelopeTo(parsed.value.address), [accepted[input]]);
  }
});
