// `mauth syn2mas migrate` is safe to rehearse and to fail: --dry-run writes nothing, a failure in
// the last phase (a unique violation injected into Synapse's data) leaves Mauth's database
// exactly as it was, a re-run then starts clean, and a second migration is refused.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { startHomeserverDouble, type HomeserverDouble } from '../support/homeserver-double.js';
import { createMauth, type MauthInstance } from '../support/mauth-process.js';
import { cleanUp, createSynapseDatabase, databaseDigest, type SynapseDatabase } from './synapse-fixture.js';

const SERVER_NAME = 'safe.test';
const PEPPER = 'safe-pepper';

let hs: HomeserverDouble;
let mauth: MauthInstance;
let synapse: SynapseDatabase;
let dir: string;
let config: string;
let alice: { accessToken: string; refreshToken: string };
let bob: { accessToken: string; refreshToken: string };

const migrate = (...args: string[]) => mauth.cli('syn2mas', 'migrate', '--synapse-config', config, ...args);

before(async () => {
  const secret = randomBytes(16).toString('hex');
  hs = await startHomeserverDouble({ secret, serverName: SERVER_NAME });
  mauth = await createMauth({
    homeserverUrl: hs.url,
    serverName: SERVER_NAME,
    secret,
    extra: {
      passwords: { schemes: [{ version: 1, algorithm: 'bcrypt', secret: PEPPER, unicode_normalization: true }, { version: 2, algorithm: 'argon2id' }] },
    },
  });
  assert.equal((await mauth.cli('database', 'migrate')).code, 0);
  synapse = await createSynapseDatabase(SERVER_NAME, PEPPER);
  for (const name of ['alice', 'bob', 'carol']) {
    await synapse.user(name, { password: `${name}-password` });
    await synapse.device(name, `${name.toUpperCase()}DEVICE`);
    await synapse.accessToken(name, `${name.toUpperCase()}DEVICE`);
    await synapse.threepid(name, 'email', `${name}@safe.test`);
  }
  alice = await synapse.refreshPair('alice', 'ALICEDEVICE');
  bob = await synapse.refreshPair('bob', 'BOBDEVICE');
  dir = await mkdtemp(join(tmpdir(), 'syn2mas-safety-'));
  config = await synapse.writeConfig(join(dir, 'homeserver.yaml'));
});

after(() => cleanUp(() => hs?.stop(), () => synapse?.drop(), () => mauth?.drop(), () => (dir ? rm(dir, { recursive: true, force: true }) : undefined)));

test('--dry-run does the whole migration and writes nothing', async () => {
  const before = await databaseDigest(mauth.databaseUrl);
  const result = await migrate('--dry-run');
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stdout, /^Dry run: nothing was written/m);
  assert.match(result.stdout, /users\s+3\b/);
  assert.match(result.stdout, /refresh tokens\s+2\b/);
  assert.deepEqual(await databaseDigest(mauth.databaseUrl), before);
});

test('a unique violation in the last phase leaves Mauth exactly as before, and a re-run starts clean', async () => {
  // Injected: Bob's refresh token becomes a copy of Alice's (Synapse's own constraint set aside),
  // which only the very last rows written (the legacy refresh tokens) run into.
  await synapse.sql`ALTER TABLE refresh_tokens DROP CONSTRAINT refresh_tokens_token_key`;
  await synapse.sql`UPDATE refresh_tokens SET token = ${alice.refreshToken} WHERE token = ${bob.refreshToken}`;
  const before = await databaseDigest(mauth.databaseUrl);
  const failed = await migrate();
  assert.equal(failed.code, 1, failed.stdout);
  assert.match(failed.stderr, /^mauth: could not create unique index "compat_refresh_tokens_token_hash_key": Key \(token_hash\)=\([^)]+\) is duplicated\.; nothing was written$/m);
  assert.match(failed.stderr, /moving the staged rows into Mauth's tables/, 'it failed in the last phase');
  assert.deepEqual(await databaseDigest(mauth.databaseUrl), before, 'nothing was written');

  await synapse.sql`UPDATE refresh_tokens SET token = ${bob.refreshToken} WHERE user_id = '@bob:safe.test'`;
  const rerun = await migrate();
  assert.equal(rerun.code, 0, rerun.stderr);
  assert.match(rerun.stdout, /^Migrated:/m);
  assert.match(rerun.stdout, /users\s+3\b/);
});

test('a second migrate is refused and changes nothing', async () => {
  const before = await databaseDigest(mauth.databaseUrl);
  const again = await migrate();
  assert.equal(again.code, 10);
  assert.match(again.stderr, /^error: Mauth's database already has 3 users: a migration runs only once, into an empty database\./m);
  assert.deepEqual(await databaseDigest(mauth.databaseUrl), before);
});
