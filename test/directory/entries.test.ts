// The pure parts of directory login: filters and DNs built from what users type (RFC 4515 and
// RFC 4514 escaping by ldapts, never concatenation), where a login name is looked up, and what an
// entry maps to.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { BerReader, BerWriter, FilterParser } from 'ldapts';
import { applySchema } from '../../src/config/apply-schema.js';
import { ProblemList } from '../../src/config/problems.js';
import { ROOT_SCHEMA } from '../../src/config/sections.js';
import type { Config } from '../../src/config/types.js';
import { DirectoryEntry, escapeDnValue, isDisabled, isUnder, loginAttributes, lookupFilter } from '../../src/directory/entries.js';
import { lookupsFor } from '../../src/directory/login.js';
import { mapProfile } from '../../src/directory/profile.js';

function config(ldap: Record<string, unknown> = {}, extra: Record<string, unknown> = {}): Config {
  const loaded = applySchema(ROOT_SCHEMA, { ldap: { enabled: true, uri: 'ldap://ldap.test', base_dns: ['ou=people,dc=example,dc=org'], ...ldap }, ...extra }, new ProblemList().at('')) as Config;
  loaded.matrix.homeserver = 'example.org';
  return loaded;
}

const entry = (dn: string, values: Record<string, string[]>) => new DirectoryEntry(dn, Object.entries(values));

describe('lookup filters', () => {
  test('metacharacters in the login name are escaped, and the filter holds them as values', () => {
    const ldap = config({ user_filter: '(objectClass=person)', login_attributes: ['uid', 'mail'] }).ldap;
    for (const value of ['*', ')(uid=*', 'alice)(|(uid=*', '\\00', 'a\u0000b', '*)(objectClass=*']) {
      const filter = lookupFilter(ldap, ldap.login_attributes, value);
      const text = filter.toString();
      // The string form escapes (RFC 4515) every *, (, ), \ and NUL of the value ...
      assert.equal(text, `(&(objectClass=person)(|(uid=${escaped(value)})(mail=${escaped(value)})))`);
      // ... parses back to the same value ...
      const reparsed = FilterParser.parseString(text) as unknown as { filters: { filters: { value: string }[] }[] };
      assert.equal(reparsed.filters[1]!.filters[0]!.value, value);
      // ... and on the wire the value is one octet string of an equality match, not filter syntax.
      const writer = new BerWriter();
      filter.write(writer);
      const parsed = FilterParser.parse(new BerReader(writer.buffer)) as unknown as { filters: { filters: { type: number; value: string }[] }[] };
      assert.deepEqual(parsed.filters[1]!.filters.map((f) => [f.type, f.value]), [[0xa3, value], [0xa3, value]]);
    }
  });

  test('one login attribute needs no OR', () => {
    const ldap = config({ user_filter: '(objectClass=person)', login_attributes: ['sAMAccountName'] }).ldap;
    assert.equal(lookupFilter(ldap, ldap.login_attributes, 'Alice').toString(), '(&(objectClass=person)(sAMAccountName=Alice))');
  });
});

function escaped(value: string): string {
  return [...value].map((c) => ({ '*': '\\2a', '(': '\\28', ')': '\\29', '\\': '\\5c', '\u0000': '\\00' })[c] ?? c).join('');
}

describe('DNs', () => {
  test('login names are DN-escaped for dn_template (RFC 4514)', () => {
    assert.equal(escapeDnValue('alice'), 'alice');
    assert.equal(escapeDnValue('alice,ou=admins'), 'alice\\,ou\\=admins');
    assert.equal(escapeDnValue('a+b<c>;"d\\e'), 'a\\+b\\<c\\>\\;\\"d\\\\e');
    assert.equal(escapeDnValue('#x'), '\\#x');
  });

  test('isUnder compares RDNs without case or spacing', () => {
    const bases = ['ou=People, dc=Example,dc=org'];
    assert.ok(isUnder('uid=alice,ou=people,dc=example,dc=org', bases));
    assert.ok(isUnder('ou=people,dc=example,dc=org', bases));
    assert.ok(!isUnder('uid=alice,ou=outsiders,dc=example,dc=org', bases));
    assert.ok(!isUnder('dc=example,dc=org', bases));
    assert.ok(!isUnder('uid=alice\\,ou=people,dc=example,dc=org', ['ou=people,dc=example,dc=org']), 'an escaped comma is no RDN boundary');
    assert.ok(!isUnder('uid=x,ou=people\\,dc=example,dc=org,dc=evil', ['ou=people,dc=example,dc=org']));
  });

  test('the DN direct_bind binds to', () => {
    const c = config({ mode: 'direct_bind', dn_template: 'uid={{ login }},ou=people,dc=example,dc=org' });
    assert.deepEqual(lookupsFor(c, { kind: 'user', name: ' Alice ' }), [{ dn: 'uid=Alice,ou=people,dc=example,dc=org' }]);
    assert.deepEqual(lookupsFor(c, { kind: 'user', name: 'x,ou=admins' }), [{ dn: 'uid=x\\,ou\\=admins,ou=people,dc=example,dc=org' }]);
    assert.deepEqual(lookupsFor(c, { kind: 'user', name: 'x\u0000' }), [], 'control characters have no DN');
    assert.deepEqual(lookupsFor(c, { kind: 'user', name: '@alice:example.org' }), [{ dn: 'uid=alice,ou=people,dc=example,dc=org' }]);
    assert.deepEqual(lookupsFor(c, { kind: 'user', name: '@alice:elsewhere.org' }), []);
  });
});

describe('where a login name is looked up', () => {
  const c = config(
    { login_attributes: ['uid', 'userPrincipalName'], attributes: { threepids: { employee_id: ['employeeNumber', 'employeeID'] } } },
    { account: { login_with_email_allowed: true }, username_rewrite: { rules: [{ regex: '[0-9]+', medium: 'employee_id' }, { regex: '[0-9]+', medium: 'unmapped' }] } },
  );

  test('rewrite rules whose medium maps to attributes, then the login attributes', () => {
    assert.deepEqual(lookupsFor(c, { kind: 'user', name: '4711' }), [
      { attributes: ['employeeNumber', 'employeeID'], value: '4711' },
      { attributes: ['uid', 'userPrincipalName'], value: '4711' },
    ]);
    assert.deepEqual(lookupsFor(c, { kind: 'user', name: 'alice' }), [{ attributes: ['uid', 'userPrincipalName'], value: 'alice' }]);
  });

  test('e-mail addresses, as names and as third-party identifiers, only when login by e-mail is allowed', () => {
    assert.deepEqual(lookupsFor(c, { kind: 'user', name: 'alice@example.org' }), [
      { attributes: ['mail'], value: 'alice@example.org' },
      { attributes: ['uid', 'userPrincipalName'], value: 'alice@example.org' },
    ]);
    assert.deepEqual(lookupsFor(c, { kind: 'thirdparty', medium: 'email', address: ' alice@example.org ' }), [{ attributes: ['mail'], value: 'alice@example.org' }]);
    assert.deepEqual(lookupsFor(c, { kind: 'thirdparty', medium: 'employee_id', address: '4711' }), [{ attributes: ['employeeNumber', 'employeeID'], value: '4711' }]);
    assert.deepEqual(lookupsFor(c, { kind: 'thirdparty', medium: 'msisdn', address: '123' }), []);
    const closed = config({}, { account: { login_with_email_allowed: false } });
    assert.deepEqual(lookupsFor(closed, { kind: 'thirdparty', medium: 'email', address: 'alice@example.org' }), []);
  });

  test('a full MXID of this server is its localpart; of another server, nothing', () => {
    assert.deepEqual(lookupsFor(c, { kind: 'user', name: '@Alice:example.org' }), [{ attributes: ['uid', 'userPrincipalName'], value: 'alice' }]);
    assert.deepEqual(lookupsFor(c, { kind: 'user', name: '@alice:evil.org' }), []);
    assert.deepEqual(lookupsFor(c, { kind: 'user', name: '   ' }), []);
  });
});

describe('what an entry maps to', () => {
  test('localpart, display name, e-mails and threepids; the template sees the attributes it names', () => {
    const c = config({ localpart_template: '{{ user.sAMAccountName | lower }}', attributes: { threepids: { employee_id: ['employeeNumber'] } } });
    assert.ok(loginAttributes(c.ldap).includes('sAMAccountName'));
    const mapped = mapProfile(
      c.ldap,
      entry('uid=a,ou=people,dc=example,dc=org', {
        uid: ['A.Liddell'],
        samaccountname: ['ALIDDELL'],
        displayname: ['Alice Liddell'],
        mail: ['Alice@Example.org', 'not an address', 'alice@example.org'],
        employeeNumber: ['4711'],
      }),
      'example.org',
    );
    assert.deepEqual(mapped, {
      ok: true,
      profile: { subject: 'A.Liddell', localpart: 'aliddell', displayName: 'Alice Liddell', emails: ['Alice@example.org'], threepids: { employee_id: ['4711'] } },
    });
  });

  test('an entry without the localpart attribute, or whose localpart Matrix refuses, maps to nothing', () => {
    const c = config();
    assert.deepEqual(mapProfile(c.ldap, entry('cn=x', { cn: ['x'] }), 'example.org'), { ok: false, problem: 'the entry has no uid' });
    const bad = mapProfile(c.ldap, entry('cn=x', { uid: ['Bob Smith'] }), 'example.org');
    assert.equal(bad.ok, false);
    const digits = mapProfile(c.ldap, entry('cn=x', { uid: ['12345'] }), 'example.org');
    assert.equal(digits.ok, false);
  });

  test('Active Directory accounts with bit 2 of userAccountControl are disabled', () => {
    assert.equal(isDisabled(entry('cn=x', { userAccountControl: ['514'] })), true);
    assert.equal(isDisabled(entry('cn=x', { useraccountcontrol: ['66050'] })), true);
    assert.equal(isDisabled(entry('cn=x', { userAccountControl: ['512'] })), false);
    assert.equal(isDisabled(entry('cn=x', {})), false);
  });

  test('ldapts entries: names compare without case, buffers and single values become lists', () => {
    const e = DirectoryEntry.from({ dn: 'uid=a', UID: 'a', mail: ['x@y.z', 'w@y.z'], photo: Buffer.from('hi'), empty: [] });
    assert.deepEqual(e.values('uid'), ['a']);
    assert.deepEqual(e.values('MAIL'), ['x@y.z', 'w@y.z']);
    assert.deepEqual(e.values('photo'), ['hi']);
    assert.equal(e.first('empty'), undefined);
  });
});
