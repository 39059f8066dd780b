// A configuration that asks for mail while mail cannot leave: `config check` says so, naming both
// keys, instead of letting users start registrations that never finish.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import YAML from 'yaml';
import { checkConfig, generateConfig } from '../../src/config/load.js';

let dir: string;
let base: string;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mauth-email-check-'));
  base = join(dir, 'base.yaml');
  await writeFile(base, await generateConfig());
});
after(() => rm(dir, { recursive: true, force: true }));

async function warningsWith(extra: object) {
  const path = join(dir, `extra-${Math.random().toString(36).slice(2)}.yaml`);
  await writeFile(path, YAML.stringify(extra));
  const result = await checkConfig({ files: [base, path], env: {} });
  assert.deepEqual(result.errors, []);
  return result.warnings.filter((w) => w.key.startsWith('email') || w.key.startsWith('account'));
}

test('blackhole transport with e-mail required for registration is a warning naming both keys', async () => {
  const warnings = await warningsWith({
    email: { transport: 'blackhole' },
    account: { password_registration_enabled: true, password_registration_email_required: true },
  });
  assert.equal(warnings.length, 1, JSON.stringify(warnings));
  assert.equal(warnings[0]!.key, 'email.transport');
  assert.match(warnings[0]!.message, /account\.password_registration_email_required/);
  assert.match(warnings[0]!.message, /blackhole/);
});

test('blackhole transport with password recovery on is a warning naming both keys', async () => {
  const warnings = await warningsWith({
    email: { transport: 'blackhole' },
    account: { password_registration_enabled: false, password_recovery_enabled: true },
  });
  assert.equal(warnings.length, 1, JSON.stringify(warnings));
  assert.match(warnings[0]!.message, /account\.password_recovery_enabled/);
});

test('no warning when nothing needs mail or mail can leave', async () => {
  assert.deepEqual(
    await warningsWith({ email: { transport: 'blackhole' }, account: { password_registration_enabled: false, password_recovery_enabled: false } }),
    [],
  );
  assert.deepEqual(
    await warningsWith({
      email: { transport: 'smtp', mode: 'plain', hostname: 'mail.example.test', port: 25 },
      account: { password_registration_enabled: true, password_registration_email_required: true, password_recovery_enabled: true },
    }),
    [],
  );
});
