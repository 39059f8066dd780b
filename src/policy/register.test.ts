import assert from 'node:assert/strict';
import { test } from 'node:test';
import { domainGlob, evaluateEmail, evaluateRegistration } from './register.js';
import { policyData as pd } from './test-data.js';

const base = { emailRequired: true, requester: {} };

test('usernames follow MAS rules', () => {
  assert.deepEqual(evaluateRegistration({ ...base, username: 'alice.b_c=d/e+f-g', email: 'a@b.c' }, pd()), []);
  for (const bad of ['Alice', 'al ice', '12345', '', 'é']) {
    assert.equal(evaluateRegistration({ ...base, username: bad, email: 'a@b.c' }, pd())[0]?.field, 'username', bad);
  }
  assert.equal(evaluateRegistration({ ...base, username: 'a'.repeat(250), email: 'a@b.c' }, pd())[0]?.field, 'username');
});

test('an e-mail is required when configured so', () => {
  assert.equal(evaluateRegistration({ ...base, username: 'alice' }, pd())[0]?.code, 'email-required');
  assert.deepEqual(evaluateRegistration({ ...base, emailRequired: false, username: 'alice' }, pd()), []);
});

test('domain globs and address constraints', () => {
  assert.ok(domainGlob('*.example.com', 'mail.example.com'));
  assert.ok(!domainGlob('*.example.com', 'a.b.example.com'));
  assert.ok(domainGlob('**.example.com', 'a.b.example.com'));
  assert.ok(!domainGlob('example.com', 'evilexample.com'));
  const data = { allowed_domains: ['example.com', '*.example.org'], banned_domains: ['bad.example.org'] };
  assert.deepEqual(evaluateEmail('a@example.com', pd(data)), []);
  assert.deepEqual(evaluateEmail('a@x.example.org', pd(data)), []);
  assert.equal(evaluateEmail('a@other.net', pd(data))[0].code, 'email-domain-not-allowed');
  assert.equal(evaluateEmail('a@bad.example.org', pd(data))[0].code, 'email-domain-banned');
  assert.equal(evaluateEmail('a@b', pd()).length, 0);
  assert.equal(evaluateEmail('not-an-address', pd())[0].code, 'email-invalid');
  assert.equal(evaluateEmail('x@spam.com', pd({ emails: { banned_addresses: { suffixes: ['@spam.com'] } } }))[0].code, 'email-banned');
});

test('banned and allowed usernames', () => {
  const data = { registration: { banned_usernames: { literals: ['admin'], prefixes: ['_'], regexes: ['^root'] } } };
  for (const name of ['admin', '_bot', 'rooted']) assert.equal(evaluateRegistration({ ...base, username: name, email: 'a@b.c' }, pd(data))[0]?.code, 'username-banned', name);
  assert.deepEqual(evaluateRegistration({ ...base, username: 'alice', email: 'a@b.c' }, pd(data)), []);
  const only = { registration: { allowed_usernames: { prefixes: ['staff.'] } } };
  assert.equal(evaluateRegistration({ ...base, username: 'alice', email: 'a@b.c' }, pd(only))[0]?.code, 'username-not-allowed');
});

test('an address list is refused even when its last domain is allowed', () => {
  const data = { allowed_domains: ['example.test'] };
  for (const email of ['mallory@evil.test,nobody@example.test', 'mallory@evil.test;nobody@example.test', '"mallory@evil.test,"@example.test', 'mallory@evil.test <nobody@example.test>', 'a@evil.test@example.test']) {
    const violations = evaluateEmail(email, pd(data));
    assert.equal(violations.length, 1, email);
    assert.equal(violations[0].code, 'email-invalid', email);
  }
  assert.match(evaluateEmail('mallory@evil.test,nobody@example.test', pd(data))[0].msg, /single e-mail address/);
  assert.deepEqual(evaluateEmail('nobody@Example.TEST', pd(data)), []);
});

test('domain rules see the canonical domain: case and Unicode spellings cannot slip past a ban', () => {
  const data = { banned_domains: ['bücher.example', 'spam.test'] };
  for (const email of ['a@xn--bcher-kva.example', 'a@Bücher.example', 'a@SPAM.test', 'a@ｓｐａｍ.test']) {
    assert.equal(evaluateEmail(email, pd(data))[0]?.code, 'email-domain-banned', email);
  }
  assert.equal(evaluateEmail('a@gmaİl.example', pd({ allowed_domains: ['gmail.example'] }))[0]?.code, 'email-domain-not-allowed');
  assert.equal(evaluateEmail('Admin@x.test', pd({ emails: { banned_addresses: { literals: ['admin@x.test'] } } }))[0]?.code, 'email-banned');
});
