// `mauth templates check` as an operator runs it: the built-in templates all render; an override
// folder (`templates.path`) with a template that does not parse or fails while rendering gives
// an error naming it and exit code 1; `--out-dir` writes every render. Also: `MAS_CONFIG` names
// the configuration files as it does for mas-cli.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import YAML from 'yaml';
import { generateConfig } from '../../src/config/generate.js';
import { ROOT } from '../support/mauth-process.js';

let dir: string;
let base: string;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mauth-templates-'));
  base = join(dir, 'config.yaml');
  await writeFile(base, await generateConfig());
});

after(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Runs the real CLI in `dir` with `env` added to (and MAUTH_CONFIG/MAS_CONFIG removed from) ours. */
function mauth(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  const { MAUTH_CONFIG: _a, MAS_CONFIG: _b, ...inherited } = process.env;
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import', import.meta.resolve('tsx'), join(ROOT, 'test/support/mauth-cli.ts'), ...args], { cwd: dir, env: { ...inherited, ...env } }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

/** A configuration file that points templates.path at a folder holding `files`. */
async function overrides(name: string, files: Record<string, string>): Promise<string> {
  const folder = join(dir, name);
  for (const [file, text] of Object.entries(files)) {
    await mkdir(join(folder, file, '..'), { recursive: true });
    await writeFile(join(folder, file), text);
  }
  const config = join(dir, `${name}.yaml`);
  await writeFile(config, YAML.stringify({ templates: { path: folder } }));
  return config;
}

test('the built-in pages and e-mails all render, with sample data and without', async () => {
  const { code, stdout, stderr } = await mauth(['-c', base, 'templates', 'check']);
  assert.equal(code, 0, stderr);
  assert.match(stdout, /^every page and e-mail renders \(\d+ renders with sample and with empty data\)/);
});

test('an override that does not parse, or fails while rendering, is named with the reason and exit code 1', async () => {
  const broken = await overrides('broken', {
    'pages/login.njk': '{% extends "pages/layout.njk" %}{% block content %}{% if %}{% endblock %}',
    'pages/extra.njk': '{% extends "pages/layout.njk" %}{% block content %}\n{{ no_such_function() }}{% endblock %}',
    'emails/recovery.subject.njk': 'Reset {{ link | no_such_filter }}',
  });
  const { code, stdout, stderr } = await mauth(['-c', base, '-c', broken, 'templates', 'check']);
  assert.equal(code, 1);
  assert.equal(stdout, '');
  assert.match(stderr, /^error: pages\/login\.njk \(every data set\): .*login\.njk.*\[Line 1, Column \d+\] unexpected token/m);
  assert.match(stderr, /^error: pages\/extra\.njk \(every data set\): .*extra\.njk.*Unable to call `no_such_function`/m);
  assert.match(stderr, /^error: emails\/recovery\.\*\.njk \(every data set\): .*filter not found: no_such_filter/m);
  assert.match(stderr, /^3 template problems \(.*broken over the built-in templates\)$/m);
});

test('--out-dir writes every render into a new folder and refuses one that is not empty', async () => {
  const fine = await overrides('fine', { 'pages/login.njk': '{% extends "pages/layout.njk" %}{% block content %}<p>Custom login for {{ server_name }}, form {{ csrf }}</p>{% endblock %}' });
  const out = join(dir, 'renders');
  const first = await mauth(['-c', base, '-c', fine, 'templates', 'check', '--out-dir', out]);
  assert.equal(first.code, 0, first.stderr);
  const files = await readdir(out);
  assert.ok(files.includes('emails_recovery-sample.subject.txt'), files.join(', '));
  const login = await readFile(join(out, 'pages_login-sample.html'), 'utf8');
  assert.match(login, /Custom login for .*, form sample-csrf-token/, 'the override wins over the built-in page');
  const again = await mauth(['-c', base, 'templates', 'check', '--out-dir', out]);
  assert.equal(again.code, 1);
  assert.match(again.stderr, /is not empty; refusing to write/);
});

test('MAS_CONFIG names the configuration files (colon-separated) when MAUTH_CONFIG is unset; MAUTH_CONFIG wins', async () => {
  const bad = join(dir, 'bad.yaml');
  await writeFile(bad, YAML.stringify({ http: { public_base: 'not a url' } }));
  const extra = join(dir, 'extra.yaml');
  await writeFile(extra, YAML.stringify({ branding: { service_name: 'From MAS_CONFIG' } }));
  const mas = await mauth(['config', 'dump'], { MAS_CONFIG: `${base}:${extra}` });
  assert.equal(mas.code, 0, mas.stderr);
  assert.equal((YAML.parse(mas.stdout) as { branding: { service_name: string } }).branding.service_name, 'From MAS_CONFIG');
  const both = await mauth(['config', 'check'], { MAS_CONFIG: bad, MAUTH_CONFIG: base });
  assert.equal(both.code, 0, both.stderr);
  assert.equal(both.stdout, 'config is valid\n');
  const masOnly = await mauth(['config', 'check'], { MAS_CONFIG: `${base}:${bad}` });
  assert.equal(masOnly.code, 1);
  assert.match(masOnly.stderr, /http\.public_base/);
});
