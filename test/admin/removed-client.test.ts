// Black box: an admin client taken out of the configuration. `mauth config sync` reports what it
// still holds (its client_credentials tokens and the personal sessions it created, besides its
// grants); `--prune --dry-run` changes nothing; `--prune` ends all of it, as MAS deletes a static
// client with its tokens and personal sessions. Personal sessions owned by a user stay.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import postgres from 'postgres';
import YAML from 'yaml';
import type { InProcessMauth } from '../support/mauth-inprocess.js';
import { ADMIN_CLIENT, AdminApi, adminToken, startAdminMauth, startHomeserver, type SharedHomeserver } from './support.js';

let hs: SharedHomeserver;
let mauth: InProcessMauth;
let dir: string;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mauth-removed-client-'));
  hs = await startHomeserver('removed.test');
  mauth = await startAdminMauth(hs);
});

after(async () => {
  await mauth?.stop();
  await mauth?.drop();
  await hs?.stop();
  await rm(dir, { recursive: true, force: true });
});

test('config sync --prune ends the client_credentials tokens and personal sessions of a removed admin client', async () => {
  const api = new AdminApi(mauth.url, await adminToken(mauth.url));
  const actor = await api.post('/users', { username: 'robot' });
  assert.equal(actor.status, 201, JSON.stringify(actor.body));
  const minted = await api.post('/personal-sessions', { actor_user_id: actor.body.data.id, human_name: 'minted by the client', scope: 'urn:mas:admin' });
  assert.equal(minted.status, 201, JSON.stringify(minted.body));
  assert.equal(minted.body.data.attributes.owner_client_id, ADMIN_CLIENT.id);
  const clientOwned = new AdminApi(mauth.url, minted.body.data.attributes.access_token);
  const issued = await mauth.cli('manage', 'issue-personal-token', 'robot');
  assert.equal(issued.code, 0, issued.stderr);
  const userOwned = new AdminApi(mauth.url, issued.stdout.trim());
  for (const caller of [api, clientOwned, userOwned]) assert.equal((await caller.get('/version')).status, 200);

  const withoutClients = join(dir, 'no-clients.yaml');
  await writeFile(withoutClients, YAML.stringify({ clients: [] }));
  const live = `client ${ADMIN_CLIENT.id}: not configured or registered any more, 0 sessions, 1 client_credentials token, 1 personal session`;

  const reported = await mauth.cli('-c', withoutClients, 'config', 'sync');
  assert.equal(reported.code, 0, reported.stderr);
  assert.match(reported.stdout, new RegExp(`^${live} still live \\(--prune ends them\\)$`, 'm'));

  const dry = await mauth.cli('-c', withoutClients, 'config', 'sync', '--prune', '--dry-run');
  assert.equal(dry.code, 0, dry.stderr);
  assert.match(dry.stdout, new RegExp(`^${live} would be ended$`, 'm'));
  for (const caller of [api, clientOwned, userOwned]) assert.equal((await caller.get('/version')).status, 200, 'a dry run ends nothing');

  const pruned = await mauth.cli('-c', withoutClients, 'config', 'sync', '--prune');
  assert.equal(pruned.code, 0, pruned.stderr);
  assert.match(pruned.stdout, new RegExp(`^${live} ended$`, 'm'));
  assert.equal((await api.get('/version')).status, 401, "the client's client_credentials token is dead");
  assert.equal((await clientOwned.get('/version')).status, 401, 'the personal session the client created is revoked');
  assert.equal((await userOwned.get('/version')).status, 200, 'a personal session owned by a user stays');

  const sql = postgres(mauth.databaseUrl, { max: 1, onnotice: () => {} });
  try {
    const [row] = await sql<{ revoked_at: Date | null }[]>`SELECT revoked_at FROM personal_sessions WHERE id = ${minted.body.data.id}`;
    assert.ok(row.revoked_at, 'the session is marked revoked');
  } finally {
    await sql.end();
  }
  const again = await mauth.cli('-c', withoutClients, 'config', 'sync');
  assert.doesNotMatch(again.stdout, new RegExp(ADMIN_CLIENT.id), 'nothing left to report');
});
