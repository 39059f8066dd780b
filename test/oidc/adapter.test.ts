// What oidc-provider's storage keeps at rest: hashes of bearer secrets, sealed client secrets.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { FixedClock, systemRandomness } from '../../src/clock.js';
import { createAdapterClass } from '../../src/oidc/adapter.js';
import { generateToken as token, hashSecret, type TokenKind } from '../../src/domain/tokens.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';

const ENCRYPTION = 'ab'.repeat(32);
const clock = new FixedClock();
const generateToken = (kind: TokenKind) => token(kind, systemRandomness);
let db: TestDatabase;

before(async () => {
  db = await createTestDatabase('adapter');
});
after(async () => {
  await db.close();
});

test('tokens are stored under their SHA-256, without the value in the payload', async () => {
  const Adapter = createAdapterClass(db.sql, clock, { encryptionSecret: ENCRYPTION });
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

test("a row expires by Mauth's clock: found until its lifetime has passed, then gone", async () => {
  const Adapter = createAdapterClass(db.sql, clock);
  const codes = new Adapter('AuthorizationCode');
  const sessions = new Adapter('Session');
  await codes.upsert('code-expiring', { jti: 'code-expiring', grantId: 'g-exp', kind: 'AuthorizationCode' }, 600);
  await sessions.upsert('session-expiring', { jti: 'session-expiring', uid: 'uid-expiring', kind: 'Session' }, 1200);
  clock.advance(599);
  assert.ok(await codes.find('code-expiring'));
  assert.ok(await sessions.findByUid('uid-expiring'));
  clock.advance(2);
  assert.equal(await codes.find('code-expiring'), undefined);
  assert.ok(await sessions.findByUid('uid-expiring'));
  clock.advance(600);
  assert.equal(await sessions.findByUid('uid-expiring'), undefined);
});

test("registered clients' secrets are sealed at rest and read back as given", async () => {
  const Adapter = createAdapterClass(db.sql, clock, { encryptionSecret: ENCRYPTION });
  const clients = new Adapter('Client');
  await clients.upsert('01CLIENT', { client_id: '01CLIENT', client_secret: 'super-secret-value', redirect_uris: [] }, 0);
  const [row] = await db.sql`SELECT payload::text AS payload FROM oidc_payloads WHERE model = 'Client' AND id = '01CLIENT'`;
  assert.ok(!row.payload.includes('super-secret-value'));
  assert.match(row.payload, /sealed:/);
  assert.equal((await clients.find('01CLIENT'))?.client_secret, 'super-secret-value');
});

test('a code is consumed once, even by concurrent consumers', async () => {
  const Adapter = createAdapterClass(db.sql, clock);
  const codes = new Adapter('AuthorizationCode');
  await codes.upsert('code-1', { jti: 'code-1', grantId: 'g2', kind: 'AuthorizationCode' }, 600);
  const results = await Promise.allSettled(Array.from({ length: 20 }, () => codes.consume('code-1')));
  assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1);
  assert.ok((await codes.find('code-1'))?.consumed);
});

test('an interaction is stored without the session cookie value oidc-provider copies into it', async () => {
  const Adapter = createAdapterClass(db.sql, clock);
  const interactions = new Adapter('Interaction');
  const cookie = 'oidc-session-id-0123456789abcdef';
  await interactions.upsert('uid-1', { jti: 'uid-1', kind: 'Interaction', session: { accountId: 'u1', uid: 'session-uid', cookie } }, 600);
  const [row] = await db.sql`SELECT payload::text AS payload FROM oidc_payloads WHERE model = 'Interaction'`;
  assert.ok(!row.payload.includes(cookie));
  assert.deepEqual((await interactions.find('uid-1'))?.session, { accountId: 'u1', uid: 'session-uid' });
});

test('a stored dynamic client with a key-set URI does not load (Mauth would fetch it)', async () => {
  const Adapter = createAdapterClass(db.sql, clock, { encryptionSecret: ENCRYPTION });
  const clients = new Adapter('Client');
  await clients.upsert('01KEYSET', { client_id: '01KEYSET', token_endpoint_auth_method: 'private_key_jwt', jwks_uri: 'http://127.0.0.1:9/jwks', redirect_uris: [] }, 0);
  await clients.upsert('01PUBLIC', { client_id: '01PUBLIC', token_endpoint_auth_method: 'none', redirect_uris: [] }, 0);
  assert.equal(await clients.find('01KEYSET'), undefined);
  assert.equal((await clients.find('01PUBLIC'))?.client_id, '01PUBLIC');
});

test('a grant type taken out of service (the device grant turned off) is dropped from stored clients, which keep the rest', async () => {
  const grants = ['authorization_code', 'refresh_token', 'urn:ietf:params:oauth:grant-type:device_code'];
  await new (createAdapterClass(db.sql, clock))('Client').upsert('01DEVICE', { client_id: '01DEVICE', grant_types: grants, redirect_uris: [] }, 0);
  const withdrawn = createAdapterClass(db.sql, clock, { withdrawnGrantTypes: ['urn:ietf:params:oauth:grant-type:device_code'] });
  assert.deepEqual((await new withdrawn('Client').find('01DEVICE'))?.grant_types, ['authorization_code', 'refresh_token']);
  assert.deepEqual((await new (createAdapterClass(db.sql, clock))('Client').find('01DEVICE'))?.grant_types, grants, 'stored as registered');
});

describe('refresh token rotation', () => {
  const Adapter = () => createAdapterClass(db.sql, clock);
  let n = 0;
  async function issue(grantId: string) {
    const Model = Adapter();
    const refresh = generateToken('refreshToken');
    const access = generateToken('accessToken');
    await new Model('RefreshToken').upsert(refresh, { jti: refresh, grantId, accountId: 'u1', kind: 'RefreshToken' }, 3600);
    await new Model('AccessToken').upsert(access, { jti: access, grantId, accountId: 'u1', kind: 'AccessToken' }, 300);
    return { refresh, access };
  }
  async function grant() {
    n += 1;
    const grantId = `grant-rot-${n}`;
    await new (Adapter())('Grant').upsert(grantId, { jti: grantId, kind: 'Grant', accountId: 'u1' }, 3600);
    return grantId;
  }
  const exists = async (model: string, value: string) =>
    (await db.sql`SELECT 1 FROM oidc_payloads WHERE model = ${model} AND id = ${hashSecret(value)}`).length === 1;
  const grantExists = async (grantId: string) =>
    (await db.sql`SELECT 1 FROM oidc_payloads WHERE model = 'Grant' AND id = ${grantId}`).length === 1;

  test('a rotation revokes the access token it replaces', async () => {
    const grantId = await grant();
    const first = await issue(grantId);
    const refreshes = new (Adapter())('RefreshToken');
    await refreshes.consume(first.refresh);
    assert.equal(await exists('AccessToken', first.access), false);
    assert.ok((await refreshes.find(first.refresh))?.consumed, 'a consumed token without a successor is not offered the grace');
  });

  test('the grace replay revokes the successor; presenting the revoked successor ends the grant', async () => {
    const grantId = await grant();
    const first = await issue(grantId);
    const refreshes = new (Adapter())('RefreshToken');
    await refreshes.consume(first.refresh);
    const second = await issue(grantId);
    assert.equal((await refreshes.find(first.refresh))?.consumed, undefined, 'the lost response may be retried');
    await refreshes.consume(first.refresh);
    assert.equal(await exists('RefreshToken', second.refresh), true, 'the replaced successor is kept');
    assert.equal(await exists('AccessToken', second.access), false);
    assert.ok((await refreshes.find(second.refresh))?.consumed, 'the replaced successor reads as used');
    await assert.rejects(refreshes.consume(second.refresh), { error: 'invalid_grant', error_detail: 'refresh token already used' });
    assert.equal(await grantExists(grantId), false);
  });

  test('no grace while the rotation that consumed the token has not saved its successor', async () => {
    const grantId = await grant();
    const first = await issue(grantId);
    const refreshes = new (Adapter())('RefreshToken');
    await refreshes.consume(first.refresh);
    await assert.rejects(refreshes.consume(first.refresh), { error: 'invalid_grant', error_detail: 'refresh token already used' });
    assert.equal(await grantExists(grantId), false);
  });

  /** Ages a token's use: the grace is judged by the database's clock, which a test cannot move. */
  const consumedAgo = (value: string, seconds: number) =>
    db.sql`UPDATE oidc_payloads SET consumed_at = clock_timestamp() - make_interval(secs => ${seconds}) WHERE model = 'RefreshToken' AND id = ${hashSecret(value)}`;

  test('a rotation that failed before saving its successor: once it is over, the retry is granted, once', async () => {
    const grantId = await grant();
    const first = await issue(grantId);
    const refreshes = new (Adapter())('RefreshToken');
    await refreshes.consume(first.refresh);
    // No successor was saved (the database failed), and the rotation's request is long over.
    await consumedAgo(first.refresh, 120);
    assert.equal((await refreshes.find(first.refresh))?.consumed, undefined, 'the retry is offered the grace');
    await refreshes.consume(first.refresh);
    assert.equal(await grantExists(grantId), true, 'the client keeps its session');
    await issue(grantId);
    await assert.rejects(refreshes.consume(first.refresh), { error: 'invalid_grant', error_detail: 'refresh token already used' });
    assert.equal(await grantExists(grantId), false, 'a second replay ends the grant');
  });

  test('the bound of a rotation in flight is the one the adapter is given', async () => {
    const grantId = await grant();
    const first = await issue(grantId);
    const refreshes = new (createAdapterClass(db.sql, clock, { rotationSettledSeconds: 200 }))('RefreshToken');
    await refreshes.consume(first.refresh);
    await consumedAgo(first.refresh, 120);
    assert.ok((await refreshes.find(first.refresh))?.consumed, 'still in flight for this adapter');
    await consumedAgo(first.refresh, 210);
    assert.equal((await refreshes.find(first.refresh))?.consumed, undefined);
  });

  test('a retry after a failed rotation gets no grace once the replaced access token was used since', async () => {
    const grantId = await grant();
    const first = await issue(grantId);
    const refreshes = new (Adapter())('RefreshToken');
    await refreshes.consume(first.refresh);
    // An access token of the grant saved after the use, and used: the rotation's answer arrived.
    const access = generateToken('accessToken');
    await new (Adapter())('AccessToken').upsert(access, { jti: access, grantId, accountId: 'u1', kind: 'AccessToken' }, 300);
    await db.sql`UPDATE oidc_payloads SET used_at = now() WHERE model = 'AccessToken' AND id = ${hashSecret(access)}`;
    await consumedAgo(first.refresh, 120);
    await db.sql`UPDATE oidc_payloads SET created_at = clock_timestamp() - interval '100 seconds' WHERE model = 'AccessToken' AND id = ${hashSecret(access)}`;
    await assert.rejects(refreshes.consume(first.refresh), { error: 'invalid_grant', error_detail: 'refresh token already used' });
    assert.equal(await grantExists(grantId), false);
  });
});
