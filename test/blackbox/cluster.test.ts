// Black box: `mauth server --workers 2`. The primary forks two workers that share the listener's
// binds (a TCP port and a UNIX socket); connections on either reach both (each labels its metrics with its number), a worker killed with SIGKILL
// is replaced by a new process that serves again, and SIGTERM drains both and exits 0 (also when it
// comes while they are still starting).
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { request } from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { startHomeserverDouble, type HomeserverDouble } from '../support/homeserver-double.js';
import { createMauth, type MauthInstance } from '../support/mauth-process.js';

const SERVER_NAME = 'cluster.test';
const embedded = process.env.MAUTH_TEST_DATABASE === 'embedded';
/** Generous liveness bound: starting a tsx process on a loaded 2-core machine can take tens of seconds. */
const WITHIN_MS = 90_000;

let hs: HomeserverDouble;
let mauth: MauthInstance;
let socketDir: string;
let socket: string;

/** One scrape of /metrics on a connection of its own (the primary hands each connection to one worker). */
function scrape(over: 'tcp' | 'socket' = 'tcp'): Promise<string> {
  const { hostname, port } = new URL(mauth.url);
  const target = over === 'tcp' ? { host: hostname, port } : { socketPath: socket };
  return new Promise((resolve, reject) => {
    const req = request({ ...target, path: '/metrics', agent: false, headers: { connection: 'close', host: 'localhost' } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk) => (body += chunk));
      res.on('end', () => (res.statusCode === 200 ? resolve(body) : reject(new Error(`/metrics answered ${res.statusCode}`))));
    });
    req.on('error', reject);
    req.end();
  });
}

/** The worker that answered a scrape, and when its process started (prom-client's default metric). */
function answeredBy(metrics: string): { worker: number; startedAt: number } {
  const line = /^process_start_time_seconds\{worker="(\d+)"\} (\d+)$/m.exec(metrics);
  assert.ok(line, `no worker label on process_start_time_seconds:\n${metrics.slice(0, 1500)}`);
  return { worker: Number(line[1]), startedAt: Number(line[2]) };
}

/** Scrapes on fresh connections until `done` says enough was seen. */
async function scrapeUntil(done: (seen: { worker: number; startedAt: number }[]) => boolean, over: 'tcp' | 'socket' = 'tcp'): Promise<{ worker: number; startedAt: number }[]> {
  const seen: { worker: number; startedAt: number }[] = [];
  const deadline = Date.now() + WITHIN_MS;
  while (!done(seen)) {
    if (Date.now() > deadline) throw new Error(`scrapes never showed what was expected: ${JSON.stringify(seen.slice(-20))}`);
    seen.push(answeredBy(await scrape(over)));
  }
  return seen;
}

/** The JSON log lines of the server (the primary and the workers write to the same stdout). */
function logLines(): Record<string, unknown>[] {
  return mauth
    .output()
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function startedWorkers(): { worker: number; pid: number }[] {
  return logLines()
    .filter((l) => l.msg === 'worker started')
    .map((l) => ({ worker: l.worker as number, pid: l.worker_pid as number }));
}

before(async () => {
  if (embedded) return;
  const secret = randomBytes(16).toString('hex');
  hs = await startHomeserverDouble({ secret, serverName: SERVER_NAME });
  socketDir = await mkdtemp(join(tmpdir(), 'mauth-cluster-'));
  socket = join(socketDir, 'mauth.sock');
  mauth = await createMauth({ homeserverUrl: hs.url, serverName: SERVER_NAME, secret, binds: [{ socket }] });
});

after(async () => {
  await mauth?.stop();
  await mauth?.drop();
  await hs?.stop();
  if (socketDir) await rm(socketDir, { recursive: true, force: true });
});

test('--workers 2: both workers answer on the shared listener, a killed worker is replaced, SIGTERM drains both and exits 0', { skip: embedded && 'the embedded database serves one process' }, async () => {
  await mauth.start('--workers', '2');
  await mauth.waitForOutput(/"role":"primary"[^\n]*"msg":"Mauth is running"/, WITHIN_MS);

  // The primary ran the migrations once; the workers did not migrate or sync.
  const lines = logLines();
  assert.equal(lines.filter((l) => l.msg === 'database migrated').length, 1);
  assert.ok(lines.filter((l) => l.msg === 'database migrated').every((l) => l.role === 'primary'));
  const first = startedWorkers();
  assert.deepEqual(first.map((w) => w.worker).sort(), [1, 2]);
  assert.notEqual(first[0].pid, first[1].pid);
  // Each worker's own lines say which worker it is.
  for (const { worker, pid } of first) {
    assert.ok(lines.some((l) => l.msg === "Mauth is running" && l.worker === worker && l.pid === pid), `worker ${worker} logs as itself`);
  }

  // Connections are handed round, on the port and on the socket: both workers answer.
  await scrapeUntil((s) => new Set(s.map((x) => x.worker)).size === 2, 'socket');
  const seen = await scrapeUntil((s) => new Set(s.map((x) => x.worker)).size === 2);
  const startOfOne = seen.find((s) => s.worker === 1)!.startedAt;

  // Worker 1 dies without a chance to clean up; another process takes its place and serves.
  const victim = first.find((w) => w.worker === 1)!;
  process.kill(victim.pid, 'SIGKILL');
  await mauth.waitForOutput(new RegExp(`"worker":1,"worker_pid":${victim.pid},"code":null,"signal":"SIGKILL"[^\\n]*"msg":"worker exited; starting another in its place"`), WITHIN_MS);
  const deadline = Date.now() + WITHIN_MS;
  while (!startedWorkers().some((w) => w.worker === 1 && w.pid !== victim.pid)) {
    if (Date.now() > deadline) throw new Error(`worker 1 was not replaced:\n${mauth.output().slice(-3000)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  const replacement = startedWorkers().find((w) => w.worker === 1 && w.pid !== victim.pid)!;
  assert.throws(() => process.kill(victim.pid, 0), /ESRCH/, 'the killed worker is gone');
  await mauth.waitForOutput(new RegExp(`"worker_pid":${replacement.pid}[^\\n]*"msg":"worker serving"`), WITHIN_MS);
  // The new worker 1 is a process started after the old one, and it answers.
  await scrapeUntil((s) => s.some((x) => x.worker === 1 && x.startedAt > startOfOne) && s.some((x) => x.worker === 2));

  mauth.signal('SIGTERM');
  assert.deepEqual(await mauth.exited(), { code: 0, signal: null });
  const stopped = logLines().filter((l) => l.msg === 'worker stopped');
  assert.deepEqual(stopped.map((l) => l.worker).sort(), [1, 2]);
  assert.ok(stopped.every((l) => l.code === 0), JSON.stringify(stopped));
  for (const pid of [replacement.pid, first.find((w) => w.worker === 2)!.pid]) assert.throws(() => process.kill(pid, 0), /ESRCH/);
});

test('--workers refuses what is not a positive number or auto, before starting anything', { skip: embedded && 'needs PostgreSQL' }, async () => {
  for (const bad of ['0', 'two', '-1', '1.5']) {
    const result = await mauth.cli('server', '--workers', bad);
    assert.equal(result.code, 1, `--workers ${bad}`);
    assert.match(result.stderr, /^mauth: --workers must be a positive integer or auto/m);
  }
});

test('SIGTERM while the workers are still starting: each drains once it is up, and the primary exits 0', { skip: embedded && 'the embedded database serves one process' }, async () => {
  const from = mauth.output().length;
  const since = () => mauth.output().slice(from);
  mauth.launch('--workers', '2');
  // Both forked, neither serving yet: a worker takes seconds to load before it listens.
  const deadline = Date.now() + WITHIN_MS;
  while ((since().match(/"msg":"worker started"/g) ?? []).length < 2) {
    if (Date.now() > deadline) throw new Error(`the workers were not forked:\n${since().slice(-3000)}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  const pids = [...since().matchAll(/"worker_pid":(\d+)[^\n]*"msg":"worker started"/g)].map((m) => Number(m[1]));
  mauth.signal('SIGTERM');
  const exited = await Promise.race([
    mauth.exited(),
    new Promise<'still running'>((resolve) => setTimeout(() => resolve('still running'), WITHIN_MS).unref()),
  ]);
  if (exited === 'still running') mauth.signal('SIGKILL');
  assert.deepEqual(exited, { code: 0, signal: null }, since().slice(-3000));
  for (const pid of pids) {
    const gone = Date.now() + WITHIN_MS;
    while (Date.now() < gone && alive(pid)) await new Promise((r) => setTimeout(r, 100));
    assert.throws(() => process.kill(pid, 0), /ESRCH/, `worker ${pid} is gone`);
  }
});

test('a worker that dies during start-up fails the start: the others are stopped and the primary exits 1, even when they stop cleanly', { skip: embedded && 'the embedded database serves one process' }, async () => {
  const from = mauth.output().length;
  const since = () => mauth.output().slice(from);
  mauth.launch('--workers', '2');
  const deadline = Date.now() + WITHIN_MS;
  const forked = () => [...since().matchAll(/"worker":(\d+),"worker_pid":(\d+)[^\n]*"msg":"worker started"/g)].map((m) => ({ worker: Number(m[1]), pid: Number(m[2]) }));
  while (!forked().some((w) => w.worker === 2)) {
    if (Date.now() > deadline) throw new Error(`worker 2 was not forked:\n${since().slice(-3000)}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  // Worker 2 is held before it can serve while worker 1 comes up, then dies.
  const second = forked().find((w) => w.worker === 2)!;
  process.kill(second.pid, 'SIGSTOP');
  try {
    // This start's lines only: the output holds those of the tests before.
    while (!/"role":"primary","worker":1,[^\n]*"msg":"worker serving"/.test(since())) {
      if (Date.now() > deadline) throw new Error(`worker 1 never served:\n${since().slice(-3000)}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  } finally {
    process.kill(second.pid, 'SIGKILL');
  }
  const exited = await Promise.race([
    mauth.exited(),
    new Promise<'still running'>((resolve) => setTimeout(() => resolve('still running'), WITHIN_MS).unref()),
  ]);
  if (exited === 'still running') mauth.signal('SIGKILL');
  assert.deepEqual(exited, { code: 1, signal: null }, since().slice(-3000));
  assert.match(since(), /^mauth: worker 2 exited during start-up \(SIGKILL\)$/m);
  // Worker 1 was asked to stop, and did so cleanly.
  assert.match(since(), /"worker":1,[^\n]*"code":0,"signal":null[^\n]*"msg":"worker stopped"/);
});
