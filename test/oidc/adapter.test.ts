// What oidc-provider's storage keeps at rest: hashes of bearer secrets, sealed client secrets.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { createAdapterClass } from '../../src/oidc/adapter.js';
import { generateToken, hashSecret } from '../../src/domain/tokens.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';

const ENCRYPTION = 'ab'.repeat(32);
let db: TestDatabase;

before(async () => {
  db = await createTestDatabase('adapter');
});
after(async () => {
  await db.close();
});

test('tokens are stored under their SHA-256, without the value in the payload', async () => {
  const Adapter = createAdapterClass(db.sql, { encryptionSecret: ENCRYPTION });
  const tokens = new Adapter('AccessToken');
  const value = generateToken('accessToken');
  await tokens.upsert(value, { jti: value, accountId: 'u1', grantId: 'g1', kind: 'AccessToken', scope: 'openid' }, 300);
  const rows = await db.sql`SELECT id, payload::text AS payload FROM oidc_payloads WHERE model = 'AccessToken'`;
  assert.equal(rows.length, 1);
  assert.equal(rows[0].id, hashSecret(value));
  assert.ok(!rows[0].payload.includes(value));
  assert.equal((await tokens.find(value))?.jti, value);
  assert.equal(await tokens.find(generateToken('accessToken')), undefined);
});

test("registered clients' secrets are sealed at rest and read back as given", async () => {
  const Adapter = createAdapterClass(db.sql, { encryptionSecret: ENCRYPTION });
  const clients = new Adapter('Client');
  await clients.upsert('01CLIENT', { client_id: '01CLIENT', client_secret: 'super-secret-value', redirect_uris: [] }, 0);
  const [row] = await db.sql`SELECT payload::text AS payload FROM oidc_payloads WHERE model = 'Client' AND id = '01CLIENT'`;
  assert.ok(!row.payload.includes('super-secret-value'));
  assert.match(row.payload, /sealed:/);
  assert.equal((await clients.find('01CLIENT'))?.client_secret, 'super-secret-value');
});

test('a code is consumed once, even by concurrent consumers', async () => {
  const Adapter = createAdapterClass(db.sql);
  const codes = new Adapter('AuthorizationCode');
  await codes.upsert('code-1', { jti: 'code-1', grantId: 'g2', kind: 'AuthorizationCode' }, 600);
  const results = await Promise.allSettled(Array.from({ length: 20 }, () => codes.consume('code-1')));
  assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1);
  assert.ok((await codes.find('code-1'))?.consumed);
});
