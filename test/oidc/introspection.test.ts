// Introspection answers by Mauth's clock: a token stops being active when the injected clock
// passes its expiry, whatever oidc-provider's own clock says.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { pino } from 'pino';
import { FixedClock, secondsAfter, systemRandomness } from '../../src/clock.js';
import type { Config } from '../../src/config/types.js';
import type { AppContext } from '../../src/context.js';
import { generateToken, hashSecret } from '../../src/domain/tokens.js';
import { createAdapterClass } from '../../src/oidc/adapter.js';
import { createIntrospector } from '../../src/oidc/introspection.js';
import * as compat from '../../src/storage/compat.js';
import * as users from '../../src/storage/users.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';

const SECRET = 'introspection-secret';
const clock = new FixedClock();
let db: TestDatabase;
let userId: string;
let introspect: (token: string) => Promise<Record<string, unknown>>;

before(async () => {
  db = await createTestDatabase('introspect');
  userId = (await users.create(db.sql, { username: 'tess' })).id;
  const config = {
    http: { issuer: 'https://auth.test/', public_base: 'https://auth.test/' },
    matrix: { secret: SECRET },
    clients: [],
  } as unknown as Config;
  const app: AppContext = { config, sql: db.sql, log: pino({ level: 'silent' }), homeserver: undefined as never, clock, random: systemRandomness };
  const introspector = createIntrospector(app);
  introspect = async (token) => (await introspector({ authorization: `Bearer ${SECRET}`, supportsDeviceId: true, body: { token } })).body;
});
after(async () => {
  await db.close();
});

test('an access token is active until its lifetime has passed on the clock, with the time left', async () => {
  const Adapter = createAdapterClass(db.sql, clock);
  const scope = 'urn:matrix:client:api:* urn:matrix:client:device:TESSDEVICE';
  await new Adapter('Grant').upsert('grant-tess', { jti: 'grant-tess', accountId: userId, kind: 'Grant', openid: { scope } } as never, 3600);
  const token = generateToken('accessToken', systemRandomness);
  // oidc-provider's own expiry lies far ahead: only Mauth's clock decides.
  const providerExp = Math.floor(Date.now() / 1000) + 86_400;
  await new Adapter('AccessToken').upsert(token, { jti: token, accountId: userId, grantId: 'grant-tess', clientId: 'c1', kind: 'AccessToken', exp: providerExp } as never, 300);

  const fresh = await introspect(token);
  assert.equal(fresh.active, true);
  assert.equal(fresh.expires_in, 300);
  assert.equal(fresh.exp, Math.floor(secondsAfter(clock.now(), 300).getTime() / 1000));
  clock.advance(299);
  assert.equal((await introspect(token)).expires_in, 1);
  clock.advance(1);
  assert.deepEqual(await introspect(token), { active: false });
});

test('a legacy access token with a lifetime expires on the clock too', async () => {
  const session = await compat.createSession(db.sql, { userId, deviceId: 'TESSLEGACY', admin: false }, clock.now());
  const token = generateToken('compatAccessToken', systemRandomness);
  await compat.addAccessToken(db.sql, session.id, hashSecret(token), secondsAfter(clock.now(), 300));
  assert.equal((await introspect(token)).expires_in, 300);
  clock.advance(300);
  assert.deepEqual(await introspect(token), { active: false });
});
