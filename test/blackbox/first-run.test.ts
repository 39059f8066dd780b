// A first run with nothing configured: `mauth server` in an empty folder generates a development
// configuration, starts the embedded database and serves discovery on http://127.0.0.1:8080.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ROOT } from '../support/mauth-process.js';

test('with no config and no database server, mauth serves discovery on :8080 from the embedded database', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'mauth-first-run-'));
  const env = { ...process.env };
  delete env.MAUTH_CONFIG;
  const child = spawn(process.execPath, ['--import', import.meta.resolve('tsx'), join(ROOT, 'test/support/mauth-cli.ts'), 'server'], {
    cwd: dir,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (d) => (output += d));
  child.stderr.on('data', (d) => (output += d));
  try {
    let discovery: Record<string, unknown> | undefined;
    const deadline = Date.now() + 60_000;
    while (!discovery && Date.now() < deadline && child.exitCode === null) {
      try {
        const res = await fetch('http://127.0.0.1:8080/.well-known/openid-configuration');
        if (res.ok) discovery = (await res.json()) as Record<string, unknown>;
      } catch {
        await new Promise((r) => setTimeout(r, 200));
      }
    }
    assert.ok(discovery, `discovery was not served:\n${output}`);
    assert.equal(discovery.issuer, 'http://127.0.0.1:8080/');
    assert.ok(existsSync(join(dir, 'data', 'config.yaml')), 'a development config was generated');
    assert.match(output, /embedded database/);
  } finally {
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await exited;
    await rm(dir, { recursive: true, force: true });
  }
});
