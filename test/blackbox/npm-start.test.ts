// `npm start` stops with the server: npm passes SIGTERM and SIGINT on to the shell running the
// script, and a shell that is still there (dash does not exec the last command) swallows them,
// leaving the server running after npm is gone. The script must make the server that process.
// The repository's own `start` script runs here against a stand-in for bin/mauth.js that records
// the signal, so no build is needed.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { ROOT } from '../support/mauth-process.js';

const STAND_IN = `
import { writeFileSync } from 'node:fs';
for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => {
    writeFileSync('signal', signal);
    process.exit(0);
  });
}
writeFileSync('pid', String(process.pid));
writeFileSync('running', process.argv.slice(2).join(' '));
setInterval(() => {}, 1000);
`;

let dir: string;

before(async () => {
  const pkg = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as { scripts: { start: string } };
  dir = await mkdtemp(join(tmpdir(), 'mauth-npm-start-'));
  await mkdir(join(dir, 'bin'));
  await writeFile(join(dir, 'package.json'), JSON.stringify({ name: 'npm-start-probe', version: '0.0.0', type: 'module', scripts: { start: pkg.scripts.start } }));
  await writeFile(join(dir, 'bin', 'mauth.js'), STAND_IN);
});

after(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function until(check: () => boolean, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  test(`${signal} to npm reaches the server, and both exit`, async () => {
    await rm(join(dir, 'running'), { force: true });
    await rm(join(dir, 'signal'), { force: true });
    await rm(join(dir, 'pid'), { force: true });
    const npm = spawn('npm', ['start', '--silent'], { cwd: dir, stdio: 'ignore', env: { ...process.env, npm_config_update_notifier: 'false' } });
    const exited = new Promise<void>((resolve) => npm.once('exit', () => resolve()));
    try {
      await until(() => existsSync(join(dir, 'running')), 'the server to start');
      assert.equal(await readFile(join(dir, 'running'), 'utf8'), 'server');
      npm.kill(signal);
      await until(() => existsSync(join(dir, 'signal')), `the server to receive ${signal}`, 5000);
      assert.equal(await readFile(join(dir, 'signal'), 'utf8'), signal);
      await Promise.race([exited, new Promise((_, reject) => setTimeout(() => reject(new Error('npm did not exit')), 5000))]);
    } finally {
      if (npm.exitCode === null && npm.signalCode === null) npm.kill('SIGKILL');
      // A server left behind by a failing run must not outlive the test.
      const pid = existsSync(join(dir, 'pid')) ? Number(await readFile(join(dir, 'pid'), 'utf8')) : 0;
      if (pid > 0) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          /* already gone */
        }
      }
    }
  });
}
