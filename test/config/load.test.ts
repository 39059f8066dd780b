// Loading configurations end to end: generated and example configs, merging, `*_file` secrets,
// errors that name key and file, unknown-key warnings, redaction, and the operators' fixtures.
import assert from 'node:assert/strict';
import { createPrivateKey, generateKeyPairSync } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import YAML from 'yaml';
import { checkConfig, ConfigError, generateConfig, loadConfig, redactConfig } from '../../src/config/load.js';

import { FIXTURES_DIR as FIXTURES } from '../support/fixtures.js';
const REPO_ROOT = new URL('../../', import.meta.url).pathname;

let dir: string;
let base: string;
let count = 0;

async function file(contents: string | object, name = `extra-${(count += 1)}.yaml`): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, typeof contents === 'string' ? contents : YAML.stringify(contents));
  return path;
}

async function load(...files: string[]) {
  return loadConfig({ files, env: {} });
}

async function errorsOf(...files: string[]) {
  const result = await checkConfig({ files, env: {} });
  assert.equal(result.config, undefined, 'expected the configuration to be rejected');
  return result.errors;
}

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mauth-config-'));
  base = await file(await generateConfig(), 'base.yaml');
});

after(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('generated configuration', () => {
  test('loads, with fresh secrets and the documented defaults', async () => {
    const config = await load(base);
    assert.match(config.secrets.encryption, /^[0-9a-f]{64}$/);
    assert.match(config.matrix.secret, /^[A-Za-z0-9]{32,}$/);
    const types = config.secrets.keys.map((key) => {
      const parsed = createPrivateKey(key.key as string);
      return `${parsed.asymmetricKeyType}:${parsed.asymmetricKeyDetails?.namedCurve ?? parsed.asymmetricKeyDetails?.modulusLength}`;
    });
    assert.deepEqual(types, ['rsa:2048', 'ec:prime256v1']);
    for (const key of config.secrets.keys) {
      assert.ok(key.kid && key.kid.length >= 8);
      assert.match(key.key as string, /^-----BEGIN PRIVATE KEY-----\n/);
    }

    assert.equal(config.http.public_base, 'http://127.0.0.1:8080/');
    assert.equal(config.http.issuer, 'http://127.0.0.1:8080/');
    assert.deepEqual(
      config.http.listeners.map((listener) => [listener.name, listener.resources.map((resource) => resource.name), listener.binds]),
      [
        ['web', ['discovery', 'human', 'oauth', 'compat', 'graphql', 'assets', 'rendezvous'], [{ address: '[::]:8080' }]],
        ['internal', ['health'], [{ host: 'localhost', port: 8081 }]],
      ],
    );
    assert.equal(config.experimental.access_token_ttl, 300);
    assert.equal(config.experimental.compat_token_ttl, 300);
    assert.equal(config.passwords.enabled, true);
    assert.equal(config.passwords.minimum_complexity, 3);
    assert.deepEqual(
      config.passwords.schemes.map(({ version, algorithm }) => ({ version, algorithm })),
      [{ version: 1, algorithm: 'argon2id' }],
    );
    assert.equal(config.database.uri, undefined);
    assert.equal(config.database.embedded_path, './data');
    assert.deepEqual(
      [config.database.max_connections, config.database.min_connections, config.database.connect_timeout, config.database.idle_timeout, config.database.max_lifetime],
      [10, 0, 30, 600, 1800],
    );
    assert.deepEqual([config.matrix.kind, config.matrix.homeserver, config.matrix.endpoint], ['synapse', 'localhost:8008', 'http://localhost:8008/']);
    assert.equal(config.email.transport, 'blackhole');
    assert.equal(config.email.from, '"Authentication Service" <root@localhost>');
    assert.equal(config.account.password_registration_enabled, false);
    assert.equal(config.account.password_recovery_enabled, false);
    assert.equal(config.account.login_with_email_allowed, false);
    assert.equal(config.account.registration_token_required, false);
    assert.deepEqual(config.rate_limiting.login.per_ip, { burst: 3, per_second: 3 / 60 });
    assert.deepEqual(config.policy.data, {});
  });

  test('takes the public base, homeserver and database from the options', async () => {
    const text = await generateConfig({ publicBase: 'https://auth.example.com', homeserver: 'example.com', embedded: false });
    const config = await load(await file(text));
    assert.equal(config.http.public_base, 'https://auth.example.com/');
    assert.equal(config.matrix.homeserver, 'example.com');
    assert.match(config.database.uri ?? '', /^postgresql:\/\//);
  });

  test('has new secrets every time', async () => {
    const [one, two] = await Promise.all([generateConfig(), generateConfig()]);
    const secretsOf = (text: string) => YAML.parse(text) as { secrets: { encryption: string }; matrix: { secret: string } };
    assert.notEqual(secretsOf(one).secrets.encryption, secretsOf(two).secrets.encryption);
    assert.notEqual(secretsOf(one).matrix.secret, secretsOf(two).matrix.secret);
  });
});

describe('config.example.yaml', () => {
  test('passes the check, warning about its public placeholder secrets', async () => {
    const result = await checkConfig({ files: [join(REPO_ROOT, 'config.example.yaml')], env: {} });
    assert.deepEqual(result.errors, []);
    assert.ok(result.config);
    assert.ok(result.warnings.some((warning) => warning.key === 'secrets.encryption'));
    assert.ok(result.warnings.some((warning) => warning.key === 'matrix.secret'));
  });

  test('is what `config generate --example` prints', async () => {
    assert.equal(await readFile(join(REPO_ROOT, 'config.example.yaml'), 'utf8'), await generateConfig({ example: true }));
  });
});

describe('errors', () => {
  test('a bad port names the key path and the file', async () => {
    const bad = await file({ http: { listeners: [{ name: 'web', resources: [{ name: 'oauth' }], binds: [{ port: 'eighty' }] }] } });
    await assert.rejects(load(base, bad), (error: unknown) => {
      assert.ok(error instanceof ConfigError);
      const problem = error.problems.find((candidate) => candidate.key === 'http.listeners[0].binds[0].port');
      assert.ok(problem, JSON.stringify(error.problems));
      assert.equal(problem.file, bad);
      assert.match(problem.message, /integer/);
      assert.match(error.message, /http\.listeners\[0\]\.binds\[0\]\.port/);
      return true;
    });
  });

  test('a short encryption secret names the key and the file', async () => {
    const bad = await file({ secrets: { encryption: 'abc' } });
    const errors = await errorsOf(base, bad);
    assert.deepEqual(
      errors.map(({ key, file: origin }) => ({ key, file: origin })),
      [{ key: 'secrets.encryption', file: bad }],
    );
  });

  test('addresses must be host:port', async () => {
    const listeners = (address: string) => ({ http: { listeners: [{ resources: [{ name: 'oauth' }], binds: [{ address }] }] } });
    for (const address of ['[::]:8080', '127.0.0.1:0', 'localhost:65535']) {
      assert.deepEqual((await checkConfig({ files: [base, await file(listeners(address))], env: {} })).errors, [], address);
    }
    for (const address of ['8080', ':8080', '::1:8080', 'localhost:65536', 'localhost']) {
      const errors = await errorsOf(base, await file(listeners(address)));
      assert.deepEqual(errors.map((error) => error.key), ['http.listeners[0].binds[0].address'], address);
    }
  });

  test('cross-field checks: public base, shared secret, signing keys, provider ids', async () => {
    const bad = await file({
      http: { public_base: 'not a url' },
      matrix: { secret: ' ' },
      secrets: { keys: [] },
      upstream_oauth2: { providers: [{ id: '01HFVBY12TMNTYTBV8W921M5FI', issuer: 'https://idp.example/', client_id: 'a', token_endpoint_auth_method: 'none', scope: 'openid' }] },
    });
    const keys = (await errorsOf(base, bad)).map((error) => error.key).sort();
    assert.deepEqual(keys, ['http.public_base', 'matrix.secret', 'secrets.keys', 'upstream_oauth2.providers[0].id']);
  });

  test('invalid YAML names the file', async () => {
    const bad = await file('http:\n  public_base: [unclosed\n');
    const errors = await errorsOf(base, bad);
    assert.equal(errors[0]?.file, bad);
    assert.match(errors[0]?.message ?? '', /YAML/);
  });
});

describe('merging', () => {
  test('later files override earlier ones, key by key', async () => {
    const first = await file({ http: { public_base: 'https://one.example/' }, experimental: { access_token_ttl: 60 } });
    const second = await file({ http: { public_base: 'https://two.example' }, account: { password_registration_enabled: true } });
    const config = await load(base, first, second);
    assert.equal(config.http.public_base, 'https://two.example/');
    assert.equal(config.http.issuer, 'https://two.example/');
    assert.equal(config.experimental.access_token_ttl, 60);
    assert.equal(config.account.password_registration_enabled, true);
    assert.equal(config.http.listeners.length, 2, 'lists from earlier files are kept unless replaced');
  });

  test('null in a later file restores the default', async () => {
    const first = await file({ experimental: { access_token_ttl: 60 } });
    const second = await file('experimental:\n  access_token_ttl: ~\n');
    assert.equal((await load(base, first, second)).experimental.access_token_ttl, 300);
  });

  test('MAUTH_CONFIG lists files separated by colons', async () => {
    const override = await file({ matrix: { homeserver: 'colon.example' } });
    const config = await loadConfig({ env: { MAUTH_CONFIG: `${base}:${override}` } });
    assert.equal(config.matrix.homeserver, 'colon.example');
  });

  test('MAUTH_<SECTION>__<KEY> environment variables override files', async () => {
    const config = await loadConfig({
      files: [base],
      env: { MAUTH_HTTP__PUBLIC_BASE: 'https://env.example/', MAUTH_RATE_LIMITING__LOGIN__PER_IP__BURST: '7', MAUTH_MATRIX__SECRET: '0123456789' },
    });
    assert.equal(config.http.public_base, 'https://env.example/');
    assert.equal(config.rate_limiting.login.per_ip.burst, 7);
    assert.equal(config.matrix.secret, '0123456789');
  });
});

describe('*_file secrets', () => {
  test('are read into their plain keys', async () => {
    const secretFile = async (name: string, contents: string) => {
      const path = join(dir, name);
      await writeFile(path, contents);
      return path;
    };
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
    const overrides = await file({
      matrix: { secret: null, secret_file: await secretFile('matrix-secret', 'from-a-file-0123456789\n') },
      secrets: {
        encryption: null,
        encryption_file: await secretFile('encryption', `${'ab'.repeat(32)}\n`),
        keys: [{ key_file: await secretFile('rsa.pem', rsa.export({ type: 'pkcs1', format: 'pem' }).toString()) }],
      },
      email: { transport: 'smtp', mode: 'starttls', hostname: 'smtp.example', username: 'mauth', password_file: await secretFile('smtp', 'smtp-pass\n') },
      passwords: { schemes: [{ version: 1, algorithm: 'argon2id', secret_file: await secretFile('pepper', 'pepper\n') }] },
      clients: [{ client_id: '0000000000000000000SYNAPSE', client_auth_method: 'client_secret_basic', client_secret_file: await secretFile('client', 'client-secret\n') }],
      upstream_oauth2: {
        providers: [
          {
            id: '01HFVBY12TMNTYTBV8W921M5FA',
            issuer: 'https://idp.example/',
            client_id: 'mauth',
            client_secret_file: await secretFile('upstream', 'upstream-secret\n'),
            token_endpoint_auth_method: 'client_secret_post',
            scope: 'openid',
          },
        ],
      },
    });
    const config = await load(base, overrides);
    assert.equal(config.matrix.secret, 'from-a-file-0123456789');
    assert.equal(config.secrets.encryption, 'ab'.repeat(32));
    assert.equal(config.email.password, 'smtp-pass');
    assert.equal(config.passwords.schemes[0]?.secret, 'pepper\n', 'the pepper is used byte for byte, as MAS does');
    assert.equal(config.clients[0]?.client_secret, 'client-secret');
    assert.equal(config.upstream_oauth2.providers[0]?.client_secret, 'upstream-secret');
    const [key] = config.secrets.keys;
    assert.match(key?.key ?? '', /^-----BEGIN PRIVATE KEY-----/, 'PKCS#1 is normalised to PKCS#8');
    assert.ok(key?.kid, 'a kid is derived from the key');
  });

  test('signing keys: encrypted PEM, DER files and keys_dir', async () => {
    const ec = generateKeyPairSync('ec', { namedCurve: 'secp384r1' }).privateKey;
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
    const der = join(dir, 'key.der');
    await writeFile(der, ec.export({ type: 'sec1', format: 'der' }));
    const passwordFile = join(dir, 'key-password');
    await writeFile(passwordFile, 'hunter2\n');
    const keysDir = await mkdtemp(join(dir, 'keys-'));
    await writeFile(join(keysDir, 'a.pem'), rsa.export({ type: 'pkcs8', format: 'pem' }));
    const encrypted = rsa.export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'hunter2' }).toString();
    const overrides = await file({
      secrets: { keys: [{ kid: 'enc', key: encrypted, password_file: passwordFile }, { key_file: der }], keys_dir: keysDir },
    });
    const config = await load(base, overrides);
    const [fromPem, fromDer, fromDir] = config.secrets.keys;
    assert.equal(config.secrets.keys.length, 3);
    assert.equal(fromPem?.kid, 'enc');
    assert.equal(fromPem?.password, undefined);
    assert.equal(createPrivateKey(fromPem?.key as string).asymmetricKeyType, 'rsa');
    assert.equal(createPrivateKey(fromDer?.key as string).asymmetricKeyDetails?.namedCurve, 'secp384r1');
    assert.ok(fromDer?.kid);
    assert.equal(fromDir?.key, rsa.export({ type: 'pkcs8', format: 'pem' }).toString());

    const wrongPassword = await file({ secrets: { keys: [{ key: encrypted, password: 'nope' }] } });
    assert.deepEqual((await errorsOf(base, wrongPassword)).map((error) => error.key), ['secrets.keys[0].key']);
  });

  test('a missing file or a secret given twice is an error at the _file key', async () => {
    const overrides = await file({ matrix: { secret_file: join(dir, 'does-not-exist') }, email: { password: 'x', password_file: join(dir, 'does-not-exist') } });
    const errors = await errorsOf(base, overrides);
    assert.deepEqual(errors.map((error) => [error.key, error.file]).sort(), [
      ['email.password_file', overrides],
      ['matrix.secret_file', overrides],
    ]);
  });
});

describe('operator fixtures', () => {
  test("the matrix section of Cloudron's guide", async () => {
    const fixture = join(FIXTURES, 'matrix-section-from-cloudron-guide.yaml');
    const result = await checkConfig({ files: [base, fixture], env: {} });
    assert.deepEqual(result.errors, []);
    assert.deepEqual(result.warnings, []);
    assert.deepEqual(result.config?.matrix, {
      kind: 'synapse',
      homeserver: 'matrix.cloudron.dev',
      secret: 'YDudMp7Kq3htKx7Z1lrqExATpQbuhzXZ',
      endpoint: 'https://matrix.cloudron.dev/',
    });
  });

  test("the upstream provider of the Ansible playbook's docs, with its empty claims_imports", async () => {
    const fixture = join(FIXTURES, 'upstream-provider-from-playbook-docs.yaml');
    const result = await checkConfig({ files: [base, fixture], env: {} });
    assert.deepEqual(result.errors, []);
    const provider = result.config?.upstream_oauth2.providers[0];
    assert.ok(provider);
    assert.equal(provider.id, '01HFVBY12TMNTYTBV8W921M5FA');
    assert.equal(provider.issuer, 'https://example.com/');
    assert.equal(provider.client_id, 'mas-fb3f0c09c4c23de4');
    assert.equal(provider.token_endpoint_auth_method, 'client_secret_post');
    assert.equal(provider.scope, 'openid email profile');
    assert.equal(provider.enabled, true);
    assert.equal(provider.discovery_mode, 'oidc');
    assert.equal(provider.pkce_method, 'auto');
    assert.equal(provider.claims_imports?.subject.template, '{{ user.sub }}');
    assert.deepEqual(provider.claims_imports?.localpart, { action: 'ignore', template: '{{ user.preferred_username }}', on_conflict: 'fail' });
    assert.equal(provider.claims_imports?.displayname.template, '{{ user.name }}');
    assert.equal(provider.claims_imports?.email.template, '{{ user.email }}');
    // The playbook's example leaves the client secret commented out: loadable, but flagged.
    assert.deepEqual(
      result.warnings.map((warning) => [warning.key, warning.file]),
      [['upstream_oauth2.providers[0].client_secret', fixture]],
    );
  });
});

test('unknown keys are warnings that name key and file, not errors', async () => {
  const extra = await file({
    http: { bogus: 1 },
    upstream_oauth2: { providers: [{ id: '01HFVBY12TMNTYTBV8W921M5FA', issuer: 'https://idp.example/', client_id: 'a', token_endpoint_auth_method: 'none', scope: 'openid', frobnicate: true }] },
    not_a_section: {},
  });
  const result = await checkConfig({ files: [base, extra], env: {} });
  assert.deepEqual(result.errors, []);
  assert.ok(result.config);
  assert.deepEqual(
    result.warnings.map((warning) => [warning.key, warning.file]),
    [
      ['not_a_section', extra],
      ['http.bogus', extra],
      ['upstream_oauth2.providers[0].frobnicate', extra],
    ],
  );
  assert.ok(!('bogus' in result.config.http));
});

test('redaction hides every secret', async () => {
  const marker = (name: string) => `SECRET-${name}-MARKER`;
  const overrides = await file({
    matrix: { secret: marker('matrix') },
    database: { uri: `postgresql://mauth:${marker('db-uri')}@db.example/mauth?password=${marker('db-query')}` },
    email: { transport: 'smtp', mode: 'tls', hostname: 'smtp.example', username: 'u', password: marker('smtp') },
    passwords: { schemes: [{ version: 1, algorithm: 'argon2id', secret: marker('pepper') }] },
    captcha: { service: 'hcaptcha', site_key: 'site', secret_key: marker('captcha') },
    clients: [{ client_id: '0000000000000000000SYNAPSE', client_auth_method: 'client_secret_basic', client_secret: marker('client') }],
    upstream_oauth2: {
      providers: [{ id: '01HFVBY12TMNTYTBV8W921M5FA', issuer: 'https://idp.example/', client_id: 'a', client_secret: marker('upstream'), token_endpoint_auth_method: 'client_secret_basic', scope: 'openid' }],
    },
  });
  const split = await file({ database: { host: 'db', password: marker('db-password') } });
  const config = await load(base, overrides);
  const splitConfig = await load(base, split);
  const encryption = config.secrets.encryption;
  const keys = config.secrets.keys.map((key) => key.key as string);

  const shown = JSON.stringify([redactConfig(config), redactConfig(splitConfig)]);
  assert.doesNotMatch(shown, /MARKER/);
  assert.ok(!shown.includes(encryption));
  for (const key of keys) assert.ok(!shown.includes(key.split('\n')[1] as string));

  const redacted = redactConfig(config) as typeof config;
  assert.equal(redacted.matrix.secret, '<redacted>');
  assert.equal(redacted.secrets.encryption, '<redacted>');
  assert.deepEqual(redacted.secrets.keys.map((key) => key.key), ['<redacted>', '<redacted>']);
  assert.equal(redacted.email.password, '<redacted>');
  assert.equal(redacted.passwords.schemes[0]?.secret, '<redacted>');
  assert.equal(redacted.clients[0]?.client_secret, '<redacted>');
  assert.equal(redacted.upstream_oauth2.providers[0]?.client_secret, '<redacted>');
  assert.equal(redacted.database.uri, 'postgresql://mauth:<redacted>@db.example/mauth?password=<redacted>');
  assert.equal((redactConfig(splitConfig) as typeof config).database.password, '<redacted>');
  assert.equal(redacted.matrix.homeserver, 'localhost:8008', 'everything else is shown');
  assert.equal(config.matrix.secret, marker('matrix'), 'the original is left alone');
});

test('listener options Mauth does not serve yet are refused, not ignored', async () => {
  const listener = (extra: object) => ({ http: { listeners: [{ name: 'web', resources: [{ name: 'oauth' }], binds: [{ address: '[::]:8080' }], ...extra }] } });
  for (const [extra, key] of [
    [{ tls: { certificate: 'x', key: 'y' } }, 'http.listeners[0].tls'],
    [{ proxy_protocol: true }, 'http.listeners[0].proxy_protocol'],
    [{ prefix: '/auth' }, 'http.listeners[0].prefix'],
    [{ binds: [{ fd: 3 }] }, 'http.listeners[0].binds[0].fd'],
  ] as const) {
    const errors = await errorsOf(base, await file(listener(extra)));
    assert.ok(errors.some((e) => e.key === key && /not supported/.test(e.message)), `${key}: ${JSON.stringify(errors)}`);
  }
  const errors = await errorsOf(base, await file({ http: { public_base: 'https://example.com/auth/' } }));
  assert.ok(errors.some((e) => e.key === 'http.public_base'), JSON.stringify(errors));
});

test('the checked-in config.example.yaml passes check', async () => {
  const result = await checkConfig({ files: [join(REPO_ROOT, 'config.example.yaml')], env: {} });
  assert.deepEqual(result.errors, []);
  assert.ok(result.config);
});
