// Every configuration key does something. A key that passes `config check` but that no code
// reads is a setting an operator believes in force when it is not: this test walks the whole
// schema and fails on any key that no code outside src/config/ reads (a static scan of src/ and
// the templates for the key's name accessed as a property), unless the key is refused with "not
// supported yet" or is consumed by the configuration loader itself, each listed below with why.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { after, before, describe, test } from 'node:test';
import YAML from 'yaml';
import { isEntry, type Entry, type SchemaDef } from '../../src/config/formats.js';
import { checkConfig, generateConfig } from '../../src/config/load.js';
import { ROOT_SCHEMA } from '../../src/config/sections.js';
import { UNSUPPORTED_KEYS } from '../../src/config/unsupported.js';

const ROOT = new URL('../../', import.meta.url).pathname;

/**
 * Refused by their section's own check rather than by unsupported.ts (the check needs the whole
 * listener), with a configuration that sets them.
 */
const REFUSED_BY_SECTION_CHECK: Record<string, unknown> = {
  'http.listeners[].tls': { certificate: 'PEM', key: 'PEM' },
  'http.listeners[].proxy_protocol': true,
  'http.listeners[].prefix': '/auth',
  'http.listeners[].binds[].fd': 3,
};

/** Keys the configuration loader turns into other keys; code reads those. */
const CONSUMED_BY_LOADER: Record<string, string> = {
  // `*_file` keys listed in secret-files.ts are found by the scan below; these are read elsewhere.
  'secrets.keys[].password_file': 'secrets.ts decrypts the key with it and drops it',
  'secrets.keys_dir': 'secrets.ts adds every file in it to `keys`',
  'account.password_registration_token_required': 'account.ts folds it into `registration_token_required`',
};

/**
 * Switches that only take away a self-service feature Mauth does not offer yet (changing one's
 * display name or password, deactivating one's account): `false` is honoured as it is, and the
 * default `true` promises nothing. Whoever adds the feature must read the switch.
 */
const RESTRICTS_ABSENT_FEATURE: Record<string, string> = {
  'account.displayname_change_allowed': 'no page changes the display name',
  'account.password_change_allowed': 'no page changes the password',
  'account.account_deactivation_allowed': 'no page deactivates the account',
};

interface SchemaKey {
  /** `http.listeners[].binds[].port` */
  pattern: string;
  entry: Entry;
}

/** Every key of the schema, mappings in lists and optional mappings included, parents first. */
function schemaKeys(def: SchemaDef, base = ''): SchemaKey[] {
  const keys: SchemaKey[] = [];
  for (const [name, node] of Object.entries(def)) {
    const pattern = base ? `${base}.${name}` : name;
    if (!isEntry(node)) {
      keys.push(...schemaKeys(node, pattern));
      continue;
    }
    keys.push({ pattern, entry: node });
    if (node.items) keys.push(...schemaKeys(node.items.schema, `${pattern}[]`));
    if (node.shape) keys.push(...schemaKeys(node.shape.schema, pattern));
  }
  return keys;
}

async function filesUnder(dir: string, keep: (path: string) => boolean): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true });
  return entries.filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name)).filter(keep);
}

const escape = (name: string) => name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** `x.name`, `x?.name`, `x['name']`, or `{ name }` / `{ a, name: b }` destructuring. */
function readsKey(text: string, name: string): boolean {
  const n = escape(name);
  return new RegExp(`\\??\\.${n}\\b|\\[['"\`]${n}['"\`]\\]|[{,]\\s*${n}\\s*[,}:=]`).test(text);
}

function isCoveredBy(pattern: string, parents: Iterable<string>): boolean {
  for (const parent of parents) if (pattern === parent || pattern.startsWith(`${parent}.`) || pattern.startsWith(`${parent}[]`)) return true;
  return false;
}

let code: string;
let secretFilePatterns: Set<string>;
const keys = schemaKeys(ROOT_SCHEMA);
const refused = [...UNSUPPORTED_KEYS.map((u) => u.key), ...Object.keys(REFUSED_BY_SECTION_CHECK)];

before(async () => {
  const sources = await filesUnder(join(ROOT, 'src'), (p) => p.endsWith('.ts') && !p.endsWith('.test.ts') && !relative(ROOT, p).startsWith('src/config/'));
  const templates = await filesUnder(join(ROOT, 'templates'), (p) => p.endsWith('.njk'));
  code = (await Promise.all([...sources, ...templates].map((p) => readFile(p, 'utf8')))).join('\n');
  const secretFiles = await readFile(join(ROOT, 'src/config/secret-files.ts'), 'utf8');
  secretFilePatterns = new Set([...secretFiles.matchAll(/pattern: '([^']+)'/g)].map((m) => `${m[1]}_file`));
  assert.ok(secretFilePatterns.has('matrix.secret_file'), 'secret-files.ts still lists its patterns that way');
});

describe('configuration keys', () => {
  test('every key is read by code outside src/config/, refused, or consumed by the loader', () => {
    const unread: string[] = [];
    for (const { pattern, entry } of keys) {
      // A list or mapping is read when its own keys are.
      if (entry.items || entry.shape) continue;
      if (isCoveredBy(pattern, refused)) continue;
      if (secretFilePatterns.has(pattern) || pattern in CONSUMED_BY_LOADER || pattern in RESTRICTS_ABSENT_FEATURE) continue;
      const name = pattern.slice(pattern.lastIndexOf('.') + 1);
      // A name used by several keys (`burst`, `mode`, `path`) is read for one of them at least;
      // then the key's parent must be read too, or its value never reaches that code.
      const parent = pattern.slice(0, pattern.lastIndexOf('.')).replace(/\[\]$/, '').split(/[.[\]]+/).filter(Boolean).pop();
      const ambiguous = keys.filter((k) => k.pattern.endsWith(`.${name}`)).length > 1;
      if (!readsKey(code, name) || (ambiguous && parent !== undefined && !readsKey(code, parent))) unread.push(pattern);
    }
    assert.deepEqual(unread, [], 'keys that pass `config check` and that no code reads: implement them, or refuse them in src/config/unsupported.ts');
  });

  test('every listed exception names a key of the schema', () => {
    const known = new Set(keys.map((k) => k.pattern));
    const listed = [...refused, ...Object.keys(CONSUMED_BY_LOADER), ...Object.keys(RESTRICTS_ABSENT_FEATURE)];
    assert.deepEqual(listed.filter((k) => !known.has(k)), []);
    for (const key of Object.keys(RESTRICTS_ABSENT_FEATURE)) {
      assert.equal(keys.find((k) => k.pattern === key)?.entry.default, true, `${key} only ever takes a feature away`);
    }
  });
});

describe('refused keys', () => {
  let dir: string;
  let base: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mauth-unsupported-'));
    base = join(dir, 'base.yaml');
    await writeFile(base, await generateConfig());
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  /** A value that asks for the feature: not the default, not an accepted value. */
  function sample(entry: Entry): unknown {
    if (entry.shape) return {};
    if (Array.isArray(entry.default)) return ['jaeger'];
    if (typeof entry.default === 'boolean' || entry.format === 'mauth:boolean') return true;
    if (typeof entry.default === 'number') return entry.default + 1;
    if (typeof entry.format === 'string' && /number|integer/.test(entry.format)) return 0.5;
    return 'https://refused.example/value';
  }

  /** Sets `pattern` (list elements: the first) in a listener-complete configuration. */
  function withKey(pattern: string, value: unknown): Record<string, unknown> {
    const root: Record<string, unknown> = {};
    let at: Record<string, unknown> = root;
    const segments = pattern.split('.');
    segments.forEach((segment, index) => {
      const last = index === segments.length - 1;
      const list = segment.endsWith('[]');
      const key = list ? segment.slice(0, -2) : segment;
      if (last) {
        at[key] = value;
        return;
      }
      const next: Record<string, unknown> =
        key === 'listeners' ? { name: 'web', resources: [{ name: 'human' }], binds: [{ address: '127.0.0.1:8080' }] } : {};
      if (key === 'resources' || key === 'binds') {
        // A bind is one address: the key under test replaces the template's.
        const element: Record<string, unknown> = key === 'binds' ? {} : (at[key] as Record<string, unknown>[])[0];
        (at[key] as Record<string, unknown>[])[0] = element;
        at = element;
        return;
      }
      at[key] = list ? [next] : next;
      at = next;
    });
    return root;
  }

  async function errorsFor(config: Record<string, unknown>) {
    const path = join(dir, `override-${Math.random().toString(36).slice(2)}.yaml`);
    await writeFile(path, YAML.stringify(config));
    const result = await checkConfig({ files: [base, path], env: {} });
    return result.errors;
  }

  for (const pattern of refused) {
    test(`${pattern} is refused with "not supported yet"`, async () => {
      const entry = keys.find((k) => k.pattern === pattern)?.entry;
      assert.ok(entry, `${pattern} is in the schema`);
      const value = pattern in REFUSED_BY_SECTION_CHECK ? REFUSED_BY_SECTION_CHECK[pattern] : sample(entry);
      const errors = await errorsFor(withKey(pattern, value));
      const path = pattern.replace(/\[\]/g, '[0]');
      const error = errors.find((e) => e.key === path);
      assert.ok(error, `no error for ${path}: ${JSON.stringify(errors)}`);
      assert.match(error.message, /not supported yet/);
    });
  }

  test('the default of a refused key, and the values of MAS that ask for nothing Mauth lacks, are accepted', async () => {
    const errors = await errorsFor({
      database: { min_connections: 0 },
      policy: { wasm_module: '/usr/local/share/mas-cli/policy.wasm', register_entrypoint: 'register/violation' },
      templates: { assets_manifest: './share/manifest.json', translations_path: './share/translations/' },
      telemetry: { tracing: { exporter: 'none', propagators: [] }, metrics: { exporter: 'prometheus' } },
      experimental: { session_limit: null },
    });
    assert.deepEqual(errors, []);
  });

  test('experimental.session_limit is accepted with both limits, the soft one not above the hard one', async () => {
    assert.deepEqual(await errorsFor({ experimental: { session_limit: { soft_limit: 3, hard_limit: 5, max_session_threshold: 100 } } }), []);
    const errors = async (limit: Record<string, unknown>) => (await errorsFor({ experimental: { session_limit: limit } })).map((e) => e.key);
    assert.deepEqual(await errors({ soft_limit: 3 }), ['experimental.session_limit.hard_limit']);
    assert.deepEqual(await errors({ soft_limit: 6, hard_limit: 5 }), ['experimental.session_limit.soft_limit']);
    assert.deepEqual(await errors({ soft_limit: 1, hard_limit: 1, dangerous_hard_limit_eviction: true }), ['experimental.session_limit.dangerous_hard_limit_eviction']);
    // policy.data.session_limit is merged over it, as MAS merges its data.
    const merged = await errorsFor({ experimental: { session_limit: { soft_limit: 3, hard_limit: 5 } }, policy: { data: { session_limit: { soft_limit: 4 } } } });
    assert.deepEqual(merged, []);
    const over = await errorsFor({ experimental: { session_limit: { soft_limit: 3, hard_limit: 5 } }, policy: { data: { session_limit: { soft_limit: 6 } } } });
    assert.deepEqual(over.map((e) => e.key), ['policy.data.session_limit.hard_limit']);
  });

  test('experimental.inactive_session_expiration is accepted with a ttl in MAS’s range', async () => {
    assert.deepEqual(await errorsFor({ experimental: { inactive_session_expiration: { ttl: 86400, expire_user_sessions: false } } }), []);
    const errors = await errorsFor({ experimental: { inactive_session_expiration: { ttl: 60 } } });
    assert.deepEqual(errors.map((e) => e.key), ['experimental.inactive_session_expiration.ttl']);
  });
});
