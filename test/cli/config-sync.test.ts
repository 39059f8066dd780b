// `mauth config sync` for static clients, and `mauth server --no-sync`, against a running Mauth:
// a static client's sessions are counted; once the client leaves the configuration its sessions
// are reported, `--prune --dry-run` changes nothing, and `--prune` ends them (tokens dead, device
// deleted on the homeserver) while sessions of registered clients stay. `server` writes the
// upstream providers to the database at start, `server --no-sync` does not.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import postgres from 'postgres';
import { ulid } from 'ulid';
import YAML from 'yaml';
import { startHomeserverDouble, type HomeserverDouble } from '../support/homeserver-double.js';
import { Browser } from '../support/http-client.js';
import { createDatabase, createMauth, freePort, type MauthInstance } from '../support/mauth-process.js';
import { authorize, introspect, registerNativeClient, tokenRequest, type RegisteredClient } from '../support/oauth-client.js';

const SERVER_NAME = 'sync.test';
const STATIC_CLIENT = '01JSTAT1CC11ENT000000000AA';
const STATIC_SECRET = 'static-client-secret-0123456789';
const PROVIDER = ulid();
const PASSWORD = 'Carla-Correct-Horse-Battery-7';
const embedded = process.env.MAUTH_TEST_DATABASE === 'embedded';

let hs: HomeserverDouble;
let mauth: MauthInstance;
let dir: string;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mauth-sync-'));
  const secret = randomBytes(16).toString('hex');
  hs = await startHomeserverDouble({ secret, serverName: SERVER_NAME });
  mauth = await createMauth({
    homeserverUrl: hs.url,
    serverName: SERVER_NAME,
    secret,
    extra: {
      clients: [{ client_id: STATIC_CLIENT, client_auth_method: 'client_secret_post', client_secret: STATIC_SECRET, redirect_uris: ['https://app.sync.test/cb'] }],
      upstream_oauth2: {
        providers: [
          { id: PROVIDER, issuer: `http://127.0.0.1:${await freePort()}`, client_id: 'mauth', client_secret: 'upstream-secret-0123456789abcdef', token_endpoint_auth_method: 'client_secret_post', scope: 'openid' },
        ],
      },
    },
  });
  const made = await mauth.cli('manage', 'register-user', 'carla', '--password', PASSWORD, '--yes');
  assert.equal(made.code, 0, made.stderr);
});

after(async () => {
  await mauth?.stop();
  await mauth?.drop();
  await hs?.stop();
  await rm(dir, { recursive: true, force: true });
});

async function providerRows(): Promise<string[]> {
  const sql = postgres(mauth.databaseUrl, { max: 1, onnotice: () => {} });
  try {
    return (await sql<{ id: string }[]>`SELECT id FROM upstream_oauth_providers`).map((r) => r.id);
  } finally {
    await sql.end();
  }
}

/** A session of `client` for carla on `deviceId`; returns its access token. */
async function session(client: RegisteredClient, deviceId: string, secret?: string): Promise<string> {
  const scope = `openid urn:matrix:client:api:* urn:matrix:client:device:${deviceId}`;
  const { params, verifier } = await authorize(new Browser(mauth.url), { client, scope, username: 'carla', password: PASSWORD });
  const tokens = await tokenRequest(mauth.url, {
    grant_type: 'authorization_code',
    code: params.get('code')!,
    redirect_uri: client.redirect_uri,
    client_id: client.client_id,
    code_verifier: verifier,
    ...(secret ? { client_secret: secret } : {}),
  });
  assert.equal(tokens.status, 200, JSON.stringify(tokens.body));
  return tokens.body.access_token as string;
}

const active = async (token: string) => (await introspect(mauth.url, mauth.secret, token)).body.active as boolean;

test('server --no-sync leaves the upstream providers out of the database; server writes them at start', { skip: embedded && 'reads the database' }, async () => {
  await mauth.start('--no-sync');
  assert.deepEqual(await providerRows(), []);
  await mauth.stop();
  await mauth.start();
  assert.deepEqual(await providerRows(), [PROVIDER]);
});

test('config sync counts the sessions of static clients; --prune ends those of a client removed from the configuration', async () => {
  if (embedded) await mauth.start();
  const staticToken = await session({ client_id: STATIC_CLIENT, redirect_uri: 'https://app.sync.test/cb' }, 'STATICDEV1', STATIC_SECRET);
  const registered = await registerNativeClient(mauth.url);
  const registeredToken = await session(registered, 'NATIVEDEV1');

  const configured = await mauth.cli('config', 'sync');
  assert.equal(configured.code, 0, configured.stderr);
  assert.match(configured.stdout, new RegExp(`^static client ${STATIC_CLIENT}: configured, 1 session$`, 'm'));
  assert.match(configured.stdout, /^1 static client\(s\): read from the configuration by every instance/m);

  const withoutClient = join(dir, 'no-clients.yaml');
  await writeFile(withoutClient, YAML.stringify({ clients: [] }));
  const removed = await mauth.cli('-c', withoutClient, 'config', 'sync');
  assert.equal(removed.code, 0, removed.stderr);
  assert.match(removed.stdout, new RegExp(`^client ${STATIC_CLIENT}: not configured or registered any more, 1 session still live \\(--prune ends them\\)$`, 'm'));
  assert.doesNotMatch(removed.stdout, new RegExp(registered.client_id), 'a registered client is no orphan');

  const dry = await mauth.cli('-c', withoutClient, 'config', 'sync', '--prune', '--dry-run');
  assert.match(dry.stdout, new RegExp(`^client ${STATIC_CLIENT}: not configured or registered any more, 1 session would be ended$`, 'm'));
  assert.equal(await active(staticToken), true, 'a dry run ends nothing');

  const since = new Date();
  const pruned = await mauth.cli('-c', withoutClient, 'config', 'sync', '--prune');
  assert.equal(pruned.code, 0, pruned.stderr);
  assert.match(pruned.stdout, new RegExp(`^client ${STATIC_CLIENT}: not configured or registered any more, 1 session ended$`, 'm'));
  assert.equal(await active(staticToken), false, "the removed client's token is dead");
  assert.equal(await active(registeredToken), true, "the registered client's token lives");
  await hs.waitFor((c) => c.path.endsWith('/delete_device') && c.at >= since && (c.body as { device_id?: string })?.device_id === 'STATICDEV1');

  const after = await mauth.cli('-c', withoutClient, 'config', 'sync');
  assert.doesNotMatch(after.stdout, new RegExp(STATIC_CLIENT), 'nothing left to report');
});

test('dry runs apply no pending migration: config sync --prune --dry-run, kill-sessions --dry-run and ldap-sync --dry-run refuse an unmigrated database', { skip: embedded && 'needs PostgreSQL' }, async () => {
  const fresh = await createDatabase();
  try {
    const other = join(dir, 'fresh-database.yaml');
    await writeFile(other, YAML.stringify({ database: { uri: fresh.url } }));
    for (const args of [['config', 'sync', '--prune', '--dry-run'], ['manage', 'kill-sessions', 'carla', '--dry-run'], ['manage', 'ldap-sync', '--dry-run']]) {
      const run = await mauth.cli('-c', other, ...args);
      assert.equal(run.code, 1, `${args.join(' ')}: ${run.stdout}`);
      assert.match(run.stderr, /not migrated.*mauth database migrate/, args.join(' '));
    }
    const sql = postgres(fresh.url, { max: 1, onnotice: () => {} });
    try {
      const [{ tables }] = await sql<{ tables: number }[]>`SELECT count(*)::int AS tables FROM pg_tables WHERE schemaname = 'public'`;
      assert.equal(tables, 0, 'nothing was written to the database');
    } finally {
      await sql.end();
    }
  } finally {
    await fresh.drop();
  }
});
