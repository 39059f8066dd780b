// `mauth doctor` with directory login on: a ✅ line when slapd answers and accepts the service
// account, a ❌ line with a hint (and exit 1) when the bind secret is wrong or slapd is down.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import YAML from 'yaml';
import { startHomeserverDouble, type HomeserverDouble } from '../support/homeserver-double.js';
import { createMauth, type MauthInstance } from '../support/mauth-process.js';
import { PEOPLE, SERVICE_DN, slapdAvailable, startSlapd, type Slapd } from '../support/slapd.js';

const SERVER_NAME = 'doctor-ldap.test';
const skip = !slapdAvailable || process.env.MAUTH_TEST_DATABASE === 'embedded' ? 'needs slapd and PostgreSQL' : false;

describe('doctor checks the directory', { skip }, () => {
  let hs: HomeserverDouble;
  let slapd: Slapd;
  let mauth: MauthInstance;
  let dir: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mauth-doctor-ldap-'));
    const secret = randomBytes(16).toString('hex');
    slapd = await startSlapd();
    hs = await startHomeserverDouble({ secret, serverName: SERVER_NAME });
    mauth = await createMauth({
      homeserverUrl: hs.url,
      serverName: SERVER_NAME,
      secret,
      extra: {
        ldap: { enabled: true, uri: slapd.url, bind_dn: SERVICE_DN, bind_password: slapd.servicePassword, base_dns: [PEOPLE], connect_timeout: 2, timeout: 2 },
      },
    });
    hs.setAuthServer(mauth.url);
    await mauth.start();
  });

  after(async () => {
    await mauth?.stop();
    await mauth?.drop();
    await hs?.stop();
    await slapd?.close();
    await rm(dir, { recursive: true, force: true });
  });

  async function doctor(override?: Record<string, unknown>) {
    const extra: string[] = [];
    if (override) {
      const file = join(dir, `override-${randomBytes(4).toString('hex')}.yaml`);
      await writeFile(file, YAML.stringify(override));
      extra.push('-c', file);
    }
    const result = await mauth.cli(...extra, 'doctor', '--timeout', '30');
    return { ...result, lines: result.stdout.split('\n').filter((line) => line !== '') };
  }

  test('slapd answering and accepting the service account: a ✅ directory line, exit 0', async () => {
    const { code, lines, stdout, stderr } = await doctor();
    assert.equal(code, 0, `${stdout}\n${stderr}`);
    assert.ok(lines.some((line) => /^✅ directory: .*reachable; service account .* accepted/.test(line)), stdout);
  });

  test('a wrong bind password: ❌ directory line naming the refusal, a hint, exit 1', async () => {
    const { code, lines, stdout } = await doctor({ ldap: { bind_password: 'not-the-password' } });
    assert.equal(code, 1, stdout);
    const index = lines.findIndex((line) => /^❌ directory: .*REFUSED/.test(line));
    assert.ok(index >= 0, stdout);
    assert.match(lines[index + 1] ?? '', /bind_dn\/bind_password/);
    assert.ok(!stdout.includes('not-the-password'), 'the bind password is not printed');
  });

  test('slapd stopped: ❌ directory UNAVAILABLE with a hint, exit 1', async () => {
    await slapd.stop();
    try {
      const { code, lines, stdout } = await doctor();
      assert.equal(code, 1, stdout);
      assert.ok(lines.some((line) => /^❌ directory: .*UNAVAILABLE/.test(line)), stdout);
    } finally {
      await slapd.start();
    }
  });
});
