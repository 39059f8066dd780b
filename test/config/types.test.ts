// The configuration's type is inferred from the section schemas. The first half of this file is
// checked by `npx tsc` only (nothing in `typeLevel` runs): each assignment must compile, and each
// `@ts-expect-error` line must not, so a schema change that loosens or breaks a type fails the
// type check. The second half runs: the keys the schemas declare `required()` or `derived()`
// (present in every loaded configuration, though they have no default) must really be ensured
// by the checks, or the type would promise what loading does not deliver.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import YAML from 'yaml';
import { applyShape } from '../../src/config/apply-schema.js';
import { boolean, integer, listOf, mapping, oneOf, optionalMapping, optionalString, string } from '../../src/config/formats.js';
import { checkConfig, generateConfig } from '../../src/config/load.js';
import { isMapping } from '../../src/config/mapping.js';
import { ProblemList } from '../../src/config/problems.js';
import { derived, isEntry, required, shape, type AnyShape, type Infer, type SchemaDef } from '../../src/config/schema.js';
import { ROOT_SCHEMA } from '../../src/config/sections.js';
import type {
  ClaimsImports,
  Config,
  DatabaseConfig,
  ImportAction,
  Listener,
  ListenerBind,
  PasswordScheme,
  RateLimit,
  ResourceName,
  SigningKey,
  StaticClient,
  UpstreamProvider,
} from '../../src/config/types.js';

/** True when A and B are the same type (not merely assignable one way). */
type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;

export function typeLevel(): void {
  // Builders: the value type follows the default (absent default: may be unset).
  const small = {
    count: integer('n', 3),
    limit: integer('n', undefined),
    name: string('s', 'x'),
    label: optionalString('s'),
    on: boolean('b', false),
    mode: oneOf('m', ['a', 'b'], 'a'),
    maybeMode: oneOf('m', ['a', 'b'], undefined),
    nested: { deep: integer('n', 1) },
    items: listOf('l', shape({ schema: { id: required(optionalString('i')), weight: integer('w', 1) } })),
    extra: optionalMapping('o', shape({ schema: { ttl: required(integer('t', undefined)), strict: boolean('b', true) } })),
    params: mapping<string>('p', {}),
    data: mapping('d', undefined),
    filled: derived(optionalString('f')),
  };
  type Small = Infer<typeof small>;
  const exact: Equal<
    Small,
    {
      count: number;
      limit?: number;
      name: string;
      label?: string;
      on: boolean;
      mode: 'a' | 'b';
      maybeMode?: 'a' | 'b';
      nested: { deep: number };
      items: { id: string; weight: number }[];
      extra?: { ttl: number; strict: boolean };
      params: Record<string, string>;
      data?: Record<string, unknown>;
      filled: string;
    }
  > = true;
  // @ts-expect-error a default makes the key always present
  const unsetCount: Small['count'] = undefined;
  // @ts-expect-error not one of the values
  const otherMode: Small['mode'] = 'c';
  // @ts-expect-error the default must be one of the values
  oneOf('m', ['a', 'b'], 'c');

  // A shape's check sees its element with the schema's types.
  shape({
    schema: { port: integer('p', 80), host: optionalString('h') },
    check(value) {
      const port: number = value.port;
      // @ts-expect-error host may be unset
      const host: string = value.host;
      void [port, host];
    },
  });

  // The configuration itself.
  const sections: Equal<
    keyof Config,
    | 'http'
    | 'database'
    | 'secrets'
    | 'matrix'
    | 'passwords'
    | 'email'
    | 'account'
    | 'rate_limiting'
    | 'branding'
    | 'captcha'
    | 'clients'
    | 'upstream_oauth2'
    | 'oauth'
    | 'experimental'
    | 'username_rewrite'
    | 'ldap'
    | 'templates'
    | 'policy'
    | 'telemetry'
    | 'rendezvous'
    | 'introspection'
  > = true;
  const timeout: Config['database']['statement_timeout'] = 10;
  // @ts-expect-error seconds, a number
  const textTimeout: Config['database']['statement_timeout'] = '10';
  // @ts-expect-error it has a default
  const noTimeout: Config['database']['statement_timeout'] = undefined;
  const noPort: DatabaseConfig['port'] = undefined;
  const sslMode: Equal<DatabaseConfig['ssl_mode'], 'disable' | 'allow' | 'prefer' | 'require' | 'verify-ca' | 'verify-full' | undefined> = true;
  const matrixKind: Equal<Config['matrix']['kind'], 'synapse' | 'synapse_modern' | 'synapse_legacy'> = true;
  const transport: Equal<Config['email']['transport'], 'blackhole' | 'smtp' | 'sendmail' | 'aws_ses'> = true;
  const rateLimit: Equal<RateLimit, { burst: number; per_second: number }> = true;
  const deviceCodeLink: Equal<Config['rate_limiting']['device_code_link'], RateLimit> = true;

  // Keys the checks ensure: required ones, and values they fill in.
  const issuer: Equal<Config['http']['issuer'], string> = true;
  const listenerName: Equal<Listener['name'], string> = true;
  const resource: Equal<ResourceName, 'discovery' | 'human' | 'oauth' | 'compat' | 'graphql' | 'assets' | 'adminapi' | 'health' | 'prometheus' | 'connection-info' | 'rendezvous'> = true;
  const bindPort: Equal<ListenerBind['port'], number | undefined> = true;
  const encryption: Equal<Config['secrets']['encryption'], string> = true;
  const signingKey: Equal<Pick<SigningKey, 'kid' | 'key'>, { kid: string; key: string }> = true;
  const matrixSecret: Equal<Config['matrix']['secret'], string> = true;
  const scheme: Equal<Pick<PasswordScheme, 'version' | 'algorithm' | 'unicode_normalization'>, { version: number; algorithm: 'argon2id' | 'bcrypt' | 'pbkdf2'; unicode_normalization: boolean }> =
    true;
  const client: Equal<Pick<StaticClient, 'client_id' | 'client_auth_method'>, { client_id: string; client_auth_method: 'none' | 'client_secret_basic' | 'client_secret_post' | 'client_secret_jwt' | 'private_key_jwt' }> =
    true;
  const provider: Equal<Pick<UpstreamProvider, 'id' | 'client_id' | 'scope'>, { id: string; client_id: string; scope: string }> = true;
  const appleTeam: Equal<NonNullable<UpstreamProvider['sign_in_with_apple']>['team_id'], string> = true;
  const parameters: Equal<UpstreamProvider['additional_authorization_parameters'], Record<string, string>> = true;
  const action: Equal<ImportAction, 'ignore' | 'suggest' | 'force' | 'require'> = true;
  const verification: Equal<ClaimsImports['email']['set_email_verification'], 'always' | 'never' | 'import' | undefined> = true;
  const ttl: Equal<NonNullable<Config['experimental']['inactive_session_expiration']>['ttl'], number> = true;
  const rule: Equal<Config['username_rewrite']['rules'][number], { regex: string; medium: string }> = true;
  // @ts-expect-error not a key of the schema
  const unknownKey: UpstreamProvider['not_a_key'] = undefined;
  void [exact, unsetCount, otherMode, sections, timeout, textTimeout, noTimeout, noPort, sslMode, matrixKind, transport, rateLimit, deviceCodeLink];
  void [issuer, listenerName, resource, bindPort, encryption, signingKey, matrixSecret, scheme, client, provider, appleTeam, parameters, action, verification, ttl, rule, unknownKey];
}

interface Ensured {
  /** `http.listeners[].name` */
  pattern: string;
  ensured: 'required' | 'derived';
}

/** Every shape in the schema with its key pattern, and every `required()`/`derived()` entry. */
function walk(def: SchemaDef, base: string, shapes: { pattern: string; shape: AnyShape }[], ensured: Ensured[]): void {
  for (const [name, node] of Object.entries(def)) {
    const pattern = base ? `${base}.${name}` : name;
    if (!isEntry(node)) {
      walk(node, pattern, shapes, ensured);
      continue;
    }
    if (node.ensured) ensured.push({ pattern, ensured: node.ensured });
    const inner = node.items ?? node.shape;
    const innerPattern = node.items ? `${pattern}[]` : pattern;
    if (inner) {
      shapes.push({ pattern: innerPattern, shape: inner });
      walk(inner.schema, innerPattern, shapes, ensured);
    }
  }
}

const shapes: { pattern: string; shape: AnyShape }[] = [];
const ensured: Ensured[] = [];
walk(ROOT_SCHEMA, '', shapes, ensured);

/** The values at `pattern` (`a.b[].c`) in `root`, one per list element; absent keys give undefined. */
function valuesAt(root: unknown, pattern: string): unknown[] {
  let nodes: unknown[] = [root];
  for (const segment of pattern.split('.')) {
    const list = segment.endsWith('[]');
    const key = list ? segment.slice(0, -2) : segment;
    nodes = nodes.filter(isMapping).map((node) => node[key]);
    if (list) nodes = nodes.flatMap((node) => (Array.isArray(node) ? node : []));
  }
  return nodes;
}

/** Conditional requirements ("is required with ...") do not make a key always present. */
const UNCONDITIONAL = /^is required(?! (unless|when|with|for)\b)/;

describe('required() keys', () => {
  test('the schema marks some, so the checks below check something', () => {
    assert.ok(ensured.filter((entry) => entry.ensured === 'required').length >= 10);
    assert.ok(shapes.length >= 8);
  });

  for (const { pattern, shape: inner } of shapes) {
    test(`an empty ${pattern} is refused for each required key it lacks, and only those`, () => {
      const problems = new ProblemList();
      applyShape(inner, {}, problems.at('element'));
      const missing = problems.errors.filter((problem) => UNCONDITIONAL.test(problem.message)).map((problem) => problem.key.replace(/^element\.?/, ''));
      const marked = Object.entries(inner.schema)
        .filter(([, node]) => isEntry(node) && node.ensured === 'required')
        .map(([key]) => key);
      assert.deepEqual(missing.sort(), marked.sort());
    });
  }

  test('a configuration without secrets is refused for each required section key', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'mauth-types-'));
    try {
      const empty = join(dir, 'empty.yaml');
      await writeFile(empty, '{}\n');
      const { errors } = await checkConfig({ files: [empty], env: {} });
      const missing = errors.filter((problem) => UNCONDITIONAL.test(problem.message)).map((problem) => problem.key);
      const marked = ensured.filter((entry) => entry.ensured === 'required' && !entry.pattern.includes('[]') && !isInShape(entry.pattern));
      assert.deepEqual(missing.sort(), marked.map((entry) => entry.pattern).sort());
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

/** Whether a pattern lies inside an optional mapping (its shape test covers it). */
function isInShape(pattern: string): boolean {
  return shapes.some((entry) => pattern.startsWith(`${entry.pattern}.`));
}

describe('derived() keys', () => {
  let dir: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mauth-types-'));
  });

  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test('are filled in when the file leaves them out', async () => {
    // The example with every derived key left out: no issuer, unnamed listeners, signing keys
    // in files and without a kid.
    const example: { http: { issuer?: string; listeners: { name?: string }[] }; secrets: { keys: { key?: string; key_file?: string }[] } } = YAML.parse(
      await generateConfig({ example: true }),
    );
    delete example.http.issuer;
    for (const listener of example.http.listeners) delete listener.name;
    example.secrets.keys = await Promise.all(
      example.secrets.keys.map(async (key, index) => {
        const keyFile = join(dir, `key-${index}.pem`);
        await writeFile(keyFile, key.key ?? '');
        return { key_file: keyFile };
      }),
    );
    const path = join(dir, 'config.yaml');
    await writeFile(path, YAML.stringify(example));

    const { config, errors } = await checkConfig({ files: [path], env: {} });
    assert.deepEqual(errors, []);
    const derivedKeys = ensured.filter((entry) => entry.ensured === 'derived');
    assert.ok(derivedKeys.length >= 4);
    for (const { pattern } of derivedKeys) {
      const values = valuesAt(config, pattern);
      assert.ok(values.length > 0, `${pattern}: the test configuration should have one`);
      for (const value of values) assert.notEqual(value, undefined, `${pattern} is not filled in`);
    }
  });
});
