import assert from 'node:assert/strict';
import { test } from 'node:test';
import { asciiLower, emailKey, parseEmailAddress, sameEmailAddress, type EmailProblem } from './email-address.js';

function accepted(input: string, options?: { smtpUtf8?: boolean }) {
  const parsed = parseEmailAddress(input, options);
  assert.ok(parsed.ok, `${JSON.stringify(input)} should be accepted, got ${parsed.ok ? '' : parsed.problem}`);
  return parsed.value;
}

function refused(input: string, problem: EmailProblem, options?: { smtpUtf8?: boolean }) {
  const parsed = parseEmailAddress(input, options);
  assert.equal(parsed.ok, false, `${JSON.stringify(input)} should be refused`);
  if (!parsed.ok) {
    assert.equal(parsed.problem, problem, JSON.stringify(input));
    assert.ok(parsed.message.length > 0);
  }
}

test('a plain address is kept as given, with the domain lower-cased', () => {
  const a = accepted('Alice.Smith+tag@Mail.Example.ORG');
  assert.equal(a.address, 'Alice.Smith+tag@mail.example.org');
  assert.equal(a.key, 'alice.smith+tag@mail.example.org');
  assert.equal(a.localPart, 'Alice.Smith+tag');
  assert.equal(a.domain, 'mail.example.org');
  assert.equal(accepted("o'brien#1&co=x?y^z_`{|}~-/*$@b.test").localPart, "o'brien#1&co=x?y^z_`{|}~-/*$");
  assert.equal(accepted('root@localhost').address, 'root@localhost', 'a single-label domain is an address too');
});

test('address lists, display names, quotes, comments and group syntax are refused', () => {
  refused('a@b.test,c@d.test', 'list');
  refused('mallory@evil.test,nobody@example.test', 'list');
  refused('a@b.test;c@d.test', 'list');
  refused('a@b@c.test', 'list');
  refused('a@b.test <c@d.test>', 'decorated');
  refused('<c@d.test>', 'decorated');
  refused('"x,y"@a.test', 'list');
  refused('"xy"@a.test', 'decorated');
  refused('a(comment)@b.test', 'decorated');
  refused('group:a@b.test', 'decorated');
  refused('a@[127.0.0.1]', 'decorated');
  refused('a\\@b@c.test', 'decorated');
});

test('whitespace, line breaks, nulls and invisible characters are refused', () => {
  for (const input of ['a b@c.test', ' a@b.test', 'a@b.test ', 'a@b.test\r\nx@evil.test', 'a@b.test\n', 'a\u0000@b.test', 'a@b\u0000.test', 'a@gma\u200bil.test', 'a\u202e@b.test', 'a@b.test\u00a0', '\t']) {
    refused(input, 'invisible');
  }
  assert.equal(parseEmailAddress('a@b.test\r\nBcc: x@evil.test').ok, false);
});

test('malformed local parts and domains are refused', () => {
  refused('', 'empty');
  refused('not-an-address', 'syntax');
  refused('@b.test', 'local_part');
  refused('a@', 'domain');
  for (const local of ['.a', 'a.', 'a..b', 'a%b', 'b!a', '=?utf-8?q?a?=']) refused(`${local}@b.test`, 'local_part');
  for (const domain of ['b..test', '.b.test', 'b.test.', '-b.test', 'b-.test', 'b_c.test', 'b%c.test', '1.2.3.4', '0x7f.1', 'b.123', 'xn--zz.test', `${'x'.repeat(64)}.test`]) {
    refused(`a@${domain}`, 'domain');
  }
});

test('length limits: 64 octets before the @, 254 in all', () => {
  accepted(`${'a'.repeat(64)}@b.test`);
  refused(`${'a'.repeat(65)}@b.test`, 'too_long');
  const domain = `${'d'.repeat(63)}.${'d'.repeat(63)}.${'d'.repeat(63)}.${'d'.repeat(50)}.test`;
  assert.ok(domain.length <= 253);
  const tooLong = `${'a'.repeat(64)}@${domain}`;
  assert.ok(tooLong.length > 254);
  refused(tooLong, 'too_long');
  refused('a'.repeat(5000), 'too_long');
});

test('non-ASCII local parts need SMTPUTF8; Unicode domains become A-labels', () => {
  refused('jösé@b.test', 'non_ascii');
  refused('cаrol@gmail.example', 'non_ascii'); // Cyrillic а
  assert.equal(accepted('jösé@b.test', { smtpUtf8: true }).address, 'jösé@b.test');
  refused('a＠evil.test@b.test', 'non_ascii');
  refused('a＠evil.test@b.test', 'local_part', { smtpUtf8: true });
  assert.equal(accepted('bob@Bücher.example').address, 'bob@xn--bcher-kva.example');
  assert.equal(accepted('bob@xn--bcher-kva.example').key, 'bob@xn--bcher-kva.example');
});

test('a look-alike domain never compares equal to the real one', () => {
  const real = accepted('carol@gmail.example');
  const dotted = accepted('carol@gmaİl.example');
  assert.notEqual(dotted.key, real.key);
  assert.match(dotted.domain, /^xn--/);
  assert.equal(sameEmailAddress('carol@gmaİl.example', 'carol@gmail.example'), false);
  // Fullwidth letters are the same domain under IDNA mapping: they name the same mailbox.
  assert.equal(accepted('carol@ｇｍａｉｌ.example').key, real.key);
  assert.equal(sameEmailAddress('CAROL@GMAIL.EXAMPLE', 'carol@gmail.example'), true);
  assert.equal(sameEmailAddress('not an address', 'not an address'), false);
  assert.equal(emailKey('Carol@Gmail.Example'), 'carol@gmail.example');
});

test('ASCII lower-casing leaves everything but A-Z alone', () => {
  assert.equal(asciiLower('AZaz09İIı\u212a'), 'azaz09İiı\u212a');
});

test('parsing is idempotent: an accepted address parses to itself', () => {
  for (const input of ['Alice@Example.ORG', 'bob@Bücher.example', "o'hara+x@ｇｍａｉｌ.example"]) {
    const once = accepted(input);
    const twice = accepted(once.address);
    assert.deepEqual(twice, once);
  }
});
