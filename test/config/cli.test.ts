// `mauth config generate|check|dump` as an operator runs them, with output captured.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { after, before, test } from 'node:test';
import { Command } from 'commander';
import YAML from 'yaml';
import { registerConfigCommands } from '../../src/cli/config.js';

let dir: string;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mauth-config-cli-'));
});

after(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Runs `mauth <args>` with the root `-c` option defined as src/cli/main.ts does. */
async function run(...args: string[]) {
  const output = { stdout: '', stderr: '', exitCode: undefined as number | undefined };
  const program = new Command('mauth')
    .option('-c, --config <file>', 'configuration file', (value: string, previous: string[] = []) => [...previous, value])
    .exitOverride();
  registerConfigCommands(program, {
    stdout: (text) => (output.stdout += text),
    stderr: (text) => (output.stderr += text),
    setExitCode: (code) => (output.exitCode = code),
  });
  await program.parseAsync(['node', 'mauth', ...args]);
  return output;
}

async function write(name: string, contents: string): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, contents);
  return path;
}

test('generate prints a configuration that check accepts', async () => {
  const generated = await run('config', 'generate', '--public-base', 'https://auth.example.com', '--homeserver', 'example.com');
  assert.equal(generated.exitCode, undefined);
  const parsed = YAML.parse(generated.stdout) as { http: { public_base: string }; matrix: { homeserver: string } };
  assert.equal(parsed.http.public_base, 'https://auth.example.com/');
  assert.equal(parsed.matrix.homeserver, 'example.com');

  const file = await write('generated.yaml', generated.stdout);
  const checked = await run('-c', file, 'config', 'check');
  assert.equal(checked.stdout, 'config is valid\n');
  assert.equal(checked.stderr, '');
  assert.equal(checked.exitCode, undefined);
});

test('generate --example is deterministic and passes check with warnings', async () => {
  const [one, two] = [await run('config', 'generate', '--example'), await run('config', 'generate', '--example')];
  assert.equal(one.stdout, two.stdout);
  const file = await write('example.yaml', one.stdout);
  const checked = await run('-c', file, 'config', 'check');
  assert.equal(checked.stdout, 'config is valid\n');
  assert.match(checked.stderr, /^warning: secrets\.encryption \(.*example\.yaml\): .*example/m);
  assert.equal(checked.exitCode, undefined);
});

test('check reports errors with key and file and exits 1; unknown keys are warnings', async () => {
  const base = await write('base.yaml', (await run('config', 'generate')).stdout);
  const bad = await write('bad.yaml', 'http:\n  listeners:\n    - resources: [{name: oauth}]\n      binds: [{port: eighty}]\n  bogus: 1\n');
  const checked = await run('-c', base, '-c', bad, 'config', 'check');
  assert.equal(checked.exitCode, 1);
  assert.equal(checked.stdout, '');
  assert.match(checked.stderr, new RegExp(`^error: http\\.listeners\\[0\\]\\.binds\\[0\\]\\.port \\(${bad}\\): must be an integer`, 'm'));
  assert.match(checked.stderr, new RegExp(`^warning: http\\.bogus \\(${bad}\\): unknown key`, 'm'));
});

test('dump prints the merged configuration with secrets redacted', async () => {
  const generated = (await run('config', 'generate')).stdout;
  const secret = (YAML.parse(generated) as { matrix: { secret: string } }).matrix.secret;
  const base = await write('dump-base.yaml', generated);
  const override = await write('dump-override.yaml', 'experimental:\n  access_token_ttl: 120\n');
  const dumped = await run('-c', base, '-c', override, 'config', 'dump');
  assert.equal(dumped.exitCode, undefined);
  const parsed = YAML.parse(dumped.stdout) as { matrix: { secret: string }; experimental: { access_token_ttl: number }; http: { issuer: string } };
  assert.equal(parsed.matrix.secret, '<redacted>');
  assert.equal(parsed.experimental.access_token_ttl, 120);
  assert.equal(parsed.http.issuer, 'http://127.0.0.1:8080/');
  assert.ok(!dumped.stdout.includes(secret));
  assert.ok(!dumped.stdout.includes('BEGIN PRIVATE KEY'));
});

test('every config command describes itself in --help', async () => {
  const program = new Command('mauth');
  registerConfigCommands(program);
  const config = program.commands.find((command) => command.name() === 'config');
  assert.ok(config);
  assert.ok(config.description());
  assert.deepEqual(config.commands.map((command) => command.name()).sort(), ['check', 'dump', 'generate', 'sync']);
  for (const command of config.commands) assert.ok(command.description().length > 10, command.name());
});

test('check refuses a bcrypt cost on a scheme of another algorithm, naming the key', async () => {
  const base = await write('cost-base.yaml', (await run('config', 'generate')).stdout);
  const cost = await write('cost.yaml', 'passwords:\n  schemes:\n    - version: 1\n      algorithm: argon2id\n      cost: 10\n');
  const checked = await run('-c', base, '-c', cost, 'config', 'check');
  assert.equal(checked.exitCode, 1);
  assert.match(checked.stderr, new RegExp(`^error: passwords\\.schemes\\[0\\]\\.cost \\(${cost}\\): applies only to bcrypt`, 'm'));
  const bcrypt = await write('bcrypt.yaml', 'passwords:\n  schemes:\n    - version: 1\n      algorithm: bcrypt\n      cost: 10\n      unicode_normalization: true\n');
  assert.equal((await run('-c', base, '-c', bcrypt, 'config', 'check')).exitCode, undefined, 'bcrypt with a cost is accepted');
});

test('commands that do not run the server load no oidc-provider (no runtime warning on stderr)', async () => {
  // oidc-provider warns at import on runtimes it does not support (Node 20): the warning belongs
  // to `mauth server` alone. On Node 22 or newer this holds trivially.
  const cli = fileURLToPath(new URL('../support/mauth-cli.ts', import.meta.url));
  for (const args of [['--help'], ['config', 'generate']]) {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, ['--import', import.meta.resolve('tsx'), cli, ...args], { cwd: dir });
    assert.ok(stdout.length > 0, args.join(' '));
    assert.doesNotMatch(stderr, /Unsupported runtime/, `mauth ${args.join(' ')}`);
    assert.doesNotMatch(stderr, /oidc-provider/, `mauth ${args.join(' ')}`);
  }
});
