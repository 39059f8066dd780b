// The `ldap` configuration section: what `config check` refuses or warns about, the bind password
// from a file, and its redaction.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import YAML from 'yaml';
import { checkConfig, generateConfig, loadConfig, redactConfig } from '../../src/config/load.js';

let dir: string;
let base: string;
let count = 0;

async function file(contents: object): Promise<string> {
  const path = join(dir, `ldap-${(count += 1)}.yaml`);
  await writeFile(path, YAML.stringify(contents));
  return path;
}

const VALID = { enabled: true, uri: 'ldaps://ldap.example.org', base_dns: ['ou=people,dc=example,dc=org'], bind_dn: 'cn=matrix,dc=example,dc=org', bind_password: 'service-secret' };

async function check(ldap: Record<string, unknown>) {
  const result = await checkConfig({ files: [base, await file({ ldap })], env: {} });
  return {
    errors: result.errors.map((p) => `${p.key}: ${p.message}`),
    warnings: result.warnings.map((p) => `${p.key}: ${p.message}`),
  };
}

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mauth-ldap-config-'));
  base = join(dir, 'base.yaml');
  await writeFile(base, await generateConfig());
});

after(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('ldap configuration', () => {
  test('disabled by default, with the documented defaults', async () => {
    const config = await loadConfig({ files: [base], env: {} });
    assert.equal(config.ldap.enabled, false);
    assert.equal(config.ldap.mode, 'search_bind');
    assert.equal(config.ldap.timeout, 3);
    assert.equal(config.ldap.pool_size, 4);
    assert.equal(config.ldap.on_conflict, 'fail');
    assert.deepEqual(config.ldap.login_attributes, ['uid']);
  });

  test('a complete section loads', async () => {
    const { errors, warnings } = await check({ ...VALID, attributes: { threepids: { employee_id: ['employeeNumber'] } }, localpart_template: '{{ user.uid | lower }}' });
    assert.deepEqual(errors, []);
    assert.deepEqual(warnings.filter((w) => w.startsWith('ldap.')), []);
  });

  test('what enabled directory login needs', async () => {
    const { errors } = await check({ enabled: true });
    assert.ok(errors.some((e) => e.startsWith('ldap.uri: is required')), errors.join('\n'));
    assert.ok(errors.some((e) => e.startsWith('ldap.base_dns: needs at least one DN')), errors.join('\n'));
  });

  const refusals: [string, Record<string, unknown>, RegExp][] = [
    ['not an LDAP URL', { uri: 'https://ldap.example.org' }, /^ldap\.uri: must be a URL starting with ldap:\/\/ or ldaps:\/\//],
    ['a URL with a path', { uri: 'ldap://ldap.example.org/dc=example' }, /^ldap\.uri: must name only the server/],
    ['StartTLS on ldaps://', { start_tls: true }, /^ldap\.start_tls: applies only to ldap:\/\//],
    ['a bind DN without its password', { bind_password: undefined }, /^ldap\.bind_password: bind_dn and bind_password go together/],
    ['a filter that does not parse', { user_filter: '(&(objectClass=person)' }, /^ldap\.user_filter: is not an LDAP filter/],
    ['a broken template', { localpart_template: '{{ user.uid | lower ' }, /^ldap\.localpart_template: is not a valid template/],
    ['direct_bind without a DN template', { mode: 'direct_bind' }, /^ldap\.dn_template: is required with mode direct_bind/],
    ['a DN template in search_bind', { dn_template: 'uid={{ login }},dc=example,dc=org' }, /^ldap\.dn_template: applies only to mode direct_bind/],
    ['a DN template without the login', { mode: 'direct_bind', dn_template: 'uid=x,dc=example,dc=org' }, /^ldap\.dn_template: must place the login name/],
    ['threepids that are not attribute lists', { attributes: { threepids: { employee_id: [1] } } }, /^ldap\.attributes\.threepids\.employee_id: must be a list of attribute names/],
    ['a CA file that cannot be read', { ca_file: '/nonexistent/ca.pem' }, /^ldap\.ca_file: cannot read/],
    ['an unknown mode', { mode: 'kerberos' }, /^ldap\.mode: must be one of search_bind, direct_bind/],
    ['no connections', { pool_size: 0 }, /^ldap\.pool_size: must be an integer from 1 to 64/],
    ['no time at all', { timeout: 0 }, /^ldap\.timeout: must be a number greater than 0/],
    ['an unknown conflict rule', { on_conflict: 'replace' }, /^ldap\.on_conflict: must be one of fail, add/],
  ];
  for (const [what, change, expected] of refusals) {
    test(`refused: ${what}`, async () => {
      const section = { ...VALID, ...change };
      for (const [key, value] of Object.entries(change)) if (value === undefined) delete section[key as keyof typeof section];
      const { errors } = await check(section);
      assert.ok(errors.some((e) => expected.test(e)), `${expected} not among:\n${errors.join('\n')}`);
    });
  }

  test('warnings: passwords in clear text over the network, certificates not checked', async () => {
    const { warnings } = await check({ ...VALID, uri: 'ldap://ldap.example.org' });
    assert.ok(warnings.some((w) => w.startsWith('ldap.uri: is ldap:// without start_tls')), warnings.join('\n'));
    const loopback = await check({ ...VALID, uri: 'ldap://127.0.0.1:3389' });
    assert.ok(!loopback.warnings.some((w) => w.startsWith('ldap.uri')), 'a directory on the same machine is fine');
    const skip = await check({ ...VALID, insecure_skip_verify: true });
    assert.ok(skip.warnings.some((w) => w.startsWith('ldap.insecure_skip_verify')), skip.warnings.join('\n'));
  });

  test('bind_password_file is read into bind_password, which config dump hides', async () => {
    const secretFile = join(dir, 'bind-password');
    await writeFile(secretFile, 'from-a-file\n');
    const { bind_password: _omitted, ...rest } = VALID;
    const config = await loadConfig({ files: [base, await file({ ldap: { ...rest, bind_password_file: secretFile } })], env: {} });
    assert.equal(config.ldap.bind_password, 'from-a-file');
    const dumped = JSON.stringify(redactConfig(config));
    assert.ok(!dumped.includes('from-a-file'));
    const both = await check({ ...VALID, bind_password_file: secretFile });
    assert.ok(both.errors.some((e) => /set only one of `bind_password` and `bind_password_file`/.test(e)), both.errors.join('\n'));
  });
});
