// `mauth doctor` run as an operator runs it, against a running Mauth, a homeserver double that
// delegates to it as Synapse does, an SMTP server and PostgreSQL: a healthy set-up prints only ✅
// and exits 0; each broken part gives a ❌ line with a hint and exit code 1.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import { createServer as createTcpServer, type AddressInfo, type Socket } from 'node:net';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import YAML from 'yaml';
import { runDoctor, type DoctorCheck, type Finding } from '../../src/cli/doctor.js';
import { loadConfig } from '../../src/config/load.js';
import { startHomeserverDouble, type HomeserverDouble } from '../support/homeserver-double.js';
import { createDatabase, createMauth, freePort, type MauthInstance } from '../support/mauth-process.js';
import { startSmtp, type SmtpCatcher } from '../support/smtp.js';

const SERVER_NAME = 'doctor.test';
const embedded = process.env.MAUTH_TEST_DATABASE === 'embedded';

let hs: HomeserverDouble;
let hsStopped = false;
let smtp: SmtpCatcher;
let mauth: MauthInstance;
let dir: string;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mauth-doctor-'));
  const secret = randomBytes(16).toString('hex');
  hs = await startHomeserverDouble({ secret, serverName: SERVER_NAME });
  smtp = await startSmtp();
  mauth = await createMauth({
    homeserverUrl: hs.url,
    serverName: SERVER_NAME,
    secret,
    extra: { email: { transport: 'smtp', mode: 'plain', hostname: '127.0.0.1', port: smtp.port, from: 'auth@doctor.test', reply_to: 'auth@doctor.test' } },
  });
  hs.setAuthServer(mauth.url);
  await mauth.start();
});

after(async () => {
  await mauth?.stop();
  await mauth?.drop();
  if (!hsStopped) await hs?.stop();
  await smtp?.stop();
  await rm(dir, { recursive: true, force: true });
});

/** Runs `mauth doctor` with the server's files plus `override` (a config file merged last). */
async function doctor(override?: Record<string, unknown>, timeoutSeconds = '30') {
  const extra: string[] = [];
  if (override) {
    const file = join(dir, `override-${randomBytes(4).toString('hex')}.yaml`);
    await writeFile(file, YAML.stringify(override));
    extra.push('-c', file);
  }
  const result = await mauth.cli(...extra, 'doctor', '--timeout', timeoutSeconds);
  return { ...result, lines: result.stdout.split('\n').filter((line) => line !== '') };
}

/** The finding line matching `pattern`, and the hint printed under it. */
function finding(lines: string[], pattern: RegExp): { line: string; hint: string } {
  const index = lines.findIndex((line) => pattern.test(line));
  assert.ok(index >= 0, `no line matches ${pattern}:\n${lines.join('\n')}`);
  return { line: lines[index], hint: lines[index + 1] ?? '' };
}

test('against a healthy set-up doctor prints only ✅ lines, one per check, and exits 0', async () => {
  const { code, lines, stdout, stderr } = await doctor();
  assert.equal(code, 0, `${stdout}\n${stderr}`);
  for (const line of lines) assert.match(line, /^✅ /, `not a ✅ line:\n${stdout}`);
  for (const check of ['configuration loads', 'database: reachable and migrated', 'signing keys:', 'e-mail: SMTP server', 'public_base:', 'issuer:', 'published keys:', "homeserver: .* accepts Mauth's shared secret", 'homeserver auth metadata: .* names this issuer', 'clock: agrees with']) {
    assert.ok(lines.some((line) => new RegExp(`^✅ ${check}`).test(line)), `no ✅ ${check}:\n${stdout}`);
  }
  assert.ok(hs.calls.some((c) => c.path === '/_synapse/mas/is_localpart_available' && c.status === 200), 'the homeserver was asked with the secret');
});

test('a wrong shared secret: ❌ naming the refusal, a hint about matrix.secret, exit 1', async () => {
  const { code, lines } = await doctor({ matrix: { secret: 'not-the-shared-secret' } });
  assert.equal(code, 1);
  const { line, hint } = finding(lines, /^❌ homeserver: /);
  assert.match(line, /refused the shared secret \(403 M_UNKNOWN\)/);
  assert.match(hint, /^ {3}hint: .*matrix\.secret/);
});

test('a database that is not migrated: ❌ with the migrate command as hint, exit 1', { skip: embedded && 'needs PostgreSQL' }, async () => {
  const fresh = await createDatabase();
  try {
    const { code, lines } = await doctor({ database: { uri: fresh.url } });
    assert.equal(code, 1);
    const { line, hint } = finding(lines, /^❌ database: /);
    assert.match(line, /migrations are not applied/);
    assert.match(hint, /mauth database migrate/);
  } finally {
    await fresh.drop();
  }
});

test('an SMTP server that does not answer: ❌ e-mail with a hint, exit 1', async () => {
  const { code, lines } = await doctor({ email: { port: await freePort() } });
  assert.equal(code, 1);
  const { line, hint } = finding(lines, /^❌ e-mail: /);
  assert.match(line, /ECONNREFUSED/);
  assert.match(hint, /email\.hostname/);
});

test('a homeserver that delegates to another authorization server: ❌ auth metadata naming it, exit 1', async () => {
  const other = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ issuer: 'https://other-auth.example/' }));
  });
  await new Promise<void>((resolve) => other.listen(0, '127.0.0.1', resolve));
  hs.setAuthServer(`http://127.0.0.1:${(other.address() as AddressInfo).port}`);
  try {
    const { code, lines } = await doctor();
    assert.equal(code, 1);
    const { line, hint } = finding(lines, /^❌ homeserver auth metadata: /);
    assert.match(line, /names https:\/\/other-auth\.example\/, not this issuer/);
    assert.match(hint, /matrix_authentication_service/);
  } finally {
    hs.setAuthServer(mauth.url);
    await new Promise((resolve) => other.close(resolve));
  }
});

test('a check that hangs is cut at the timeout and printed as ❌; checks added to the list run in order', async () => {
  const config = await loadConfig({ files: mauth.configFiles });
  const checks: DoctorCheck[] = [
    { name: 'stalled', run: () => new Promise<Finding>(() => {}) },
    { name: 'fine', run: async () => ({ status: 'ok', message: 'fine: yes' }) },
  ];
  const printed: Finding[] = [];
  await runDoctor(config, checks, 200, (f) => printed.push(f));
  assert.deepEqual(
    printed.map((f) => [f.status, f.message]),
    [
      ['fail', 'stalled: no answer within 0.2 s'],
      ['ok', 'fine: yes'],
    ],
  );
  assert.match(printed[0].hint ?? '', /--timeout/);
});

test('a database that takes the connection and never answers: ❌ database at the timeout, and doctor still ends', { timeout: 120_000 }, async () => {
  // connect_timeout 0: PostgreSQL's client would wait for ever; only doctor's own bound ends it.
  const sockets = new Set<Socket>();
  const silent = createTcpServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => {});
  });
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  try {
    const uri = `postgresql://mauth@127.0.0.1:${(silent.address() as AddressInfo).port}/mauth`;
    const { code, lines } = await doctor({ database: { uri, connect_timeout: 0 } }, '1');
    assert.equal(code, 1);
    const { line, hint } = finding(lines, /^❌ database: /);
    assert.match(line, /no answer within 1 s/);
    assert.match(hint, /--timeout/);
  } finally {
    for (const socket of sockets) socket.destroy();
    await new Promise((resolve) => silent.close(resolve));
  }
});

test('the homeserver down: ❌ homeserver and auth metadata lines with hints, exit 1', async () => {
  await hs.stop();
  hsStopped = true;
  const { code, lines } = await doctor();
  assert.equal(code, 1);
  const homeserver = finding(lines, /^❌ homeserver: /);
  assert.match(homeserver.line, /is not reachable \(ECONNREFUSED\)/);
  assert.match(homeserver.hint, /^ {3}hint: is Synapse running\?.*matrix\.endpoint/);
  const metadata = finding(lines, /^❌ homeserver auth metadata: /);
  assert.match(metadata.hint, /^ {3}hint: /);
  assert.ok(lines.some((line) => line.startsWith('✅ public_base:')), 'what does not need the homeserver still passes');
});
