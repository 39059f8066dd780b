// `passwords.max_concurrency` and `passwords.max_queue`: the bounds of the password hashing pool.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import YAML from 'yaml';
import { PasswordHasher } from '../../src/accounts/passwords.js';
import { checkConfig, generateConfig } from '../../src/config/load.js';

let dir: string;
let base: string;
let count = 0;

async function file(contents: object): Promise<string> {
  const path = join(dir, `extra-${(count += 1)}.yaml`);
  await writeFile(path, YAML.stringify(contents));
  return path;
}

const check = async (passwords: Record<string, unknown>) => checkConfig({ files: [base, await file({ passwords })], env: {} });

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mauth-passwords-pool-'));
  base = join(dir, 'base.yaml');
  await writeFile(base, await generateConfig());
});

after(async () => {
  await rm(dir, { recursive: true, force: true });
});

test('left out, the pool bounds follow the cores: max(1, cores − 1) at once, 64 waiting per slot', async () => {
  const result = await check({});
  assert.deepEqual(result.errors, []);
  assert.equal(result.config?.passwords.max_concurrency, undefined);
  assert.equal(result.config?.passwords.max_queue, undefined);
  const hasher = new PasswordHasher(result.config!.passwords);
  assert.ok(hasher.pool.concurrency >= 1);
  assert.equal(hasher.pool.maxQueue, 64 * hasher.pool.concurrency);
});

test('configured bounds reach the pool; a queue of 0 is allowed', async () => {
  const result = await check({ max_concurrency: 3, max_queue: 0 });
  assert.deepEqual(result.errors, []);
  const hasher = new PasswordHasher(result.config!.passwords);
  assert.equal(hasher.pool.concurrency, 3);
  assert.equal(hasher.pool.maxQueue, 0);
});

test('a concurrency below 1, a negative queue or a non-integer is refused at its key', async () => {
  for (const [passwords, key] of [
    [{ max_concurrency: 0 }, 'passwords.max_concurrency'],
    [{ max_concurrency: -2 }, 'passwords.max_concurrency'],
    [{ max_concurrency: 1.5 }, 'passwords.max_concurrency'],
    [{ max_concurrency: 'many' }, 'passwords.max_concurrency'],
    [{ max_queue: -1 }, 'passwords.max_queue'],
    [{ max_queue: 'lots' }, 'passwords.max_queue'],
  ] as const) {
    const result = await check(passwords);
    assert.equal(result.config, undefined, JSON.stringify(passwords));
    assert.deepEqual(result.errors.map((error) => error.key), [key], JSON.stringify(passwords));
    assert.match(result.errors[0]?.message ?? '', /integer/);
  }
});
