// The benchmark's database: a fresh PostgreSQL database, migrated, holding one user and a set of
// access tokens stored the way the OIDC adapter stores them (src/oidc/adapter.ts).
import { randomBytes } from 'node:crypto';
import postgres from 'postgres';
import { ulid } from 'ulid';
import { systemRandomness } from '../src/clock.js';
import { generateToken, hashSecret } from '../src/domain/tokens.js';
import { migrate } from '../src/storage/migrate.js';
import type { PasswordHasher } from '../src/accounts/passwords.js';
import { create as createUser, setPassword } from '../src/storage/users.js';

export const ADMIN_DATABASE_URL = process.env.BENCH_DATABASE_URL ?? process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

export const BENCH_USERNAME = 'bench';
export const BENCH_DEVICE = 'BENCHDEVICE01';
export const BENCH_CLIENT = '01BENCHC11ENT000000000000';
export const BENCH_SCOPE = `openid urn:matrix:client:api:* urn:matrix:client:device:${BENCH_DEVICE}`;

export interface BenchDatabase {
  name: string;
  url: string;
  serverVersion: string;
  drop(): Promise<void>;
}

function adminClient() {
  return postgres(ADMIN_DATABASE_URL, { max: 1, onnotice: () => {} });
}

export async function createBenchDatabase(): Promise<BenchDatabase> {
  const name = `mauth_bench_${randomBytes(5).toString('hex')}`;
  const admin = adminClient();
  let serverVersion: string;
  try {
    [{ server_version: serverVersion }] = await admin<{ server_version: string }[]>`SHOW server_version`;
    await admin.unsafe(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end({ timeout: 5 });
  }
  const url = new URL(ADMIN_DATABASE_URL);
  url.pathname = `/${name}`;
  let dropped = false;
  return {
    name,
    url: url.href,
    serverVersion,
    async drop() {
      if (dropped) return;
      dropped = true;
      const a = adminClient();
      try {
        await a.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await a.end({ timeout: 5 });
      }
    },
  };
}

/**
 * Migrates the database and stores `count` access tokens of one user, each with a grant of its
 * own (one per device, as oidc-provider leaves them: the grant holds the consented scope), valid
 * for an hour and already marked used (so introspection never writes). Returns the tokens in the
 * clear.
 */
export async function seed(url: string, count: number, lifetimeSeconds = 3600): Promise<{ userId: string; tokens: string[] }> {
  const sql = postgres(url, { max: 2, onnotice: () => {}, transform: { undefined: null } });
  try {
    await migrate(sql);
    return await seedTokens(sql, count, lifetimeSeconds);
  } finally {
    await sql.end({ timeout: 5 });
  }
}

/** `seed` on a migrated database through a client of the caller's (the embedded database has one owner). */
export async function seedTokens(sql: postgres.Sql, count: number, lifetimeSeconds = 3600): Promise<{ userId: string; tokens: string[] }> {
  {
    const user = await createUser(sql, { username: BENCH_USERNAME });
    const iat = Math.floor(Date.now() / 1000);
    const exp = iat + lifetimeSeconds;
    const tokens = Array.from({ length: count }, () => generateToken('accessToken', systemRandomness));
    const ids: string[] = [];
    const payloads: string[] = [];
    const grants: string[] = [];
    for (const token of tokens) {
      const grantId = ulid();
      ids.push(hashSecret(token));
      grants.push(grantId);
      payloads.push(
        JSON.stringify({ accountId: user.id, clientId: BENCH_CLIENT, grantId, scope: BENCH_SCOPE, iat, exp, kind: 'AccessToken' }),
      );
    }
    const grantPayloads = grants.map(() =>
      JSON.stringify({
        accountId: user.id,
        clientId: BENCH_CLIENT,
        kind: 'Grant',
        openid: { scope: BENCH_SCOPE },
        iat,
        exp: iat + 365 * 24 * 3600,
      }),
    );
    await sql`
      INSERT INTO oidc_payloads (model, id, payload, account_id, expires_at)
      SELECT 'Grant', t.id, t.payload::jsonb, ${user.id}, to_timestamp(${iat + 365 * 24 * 3600})
      FROM unnest(${grants}::text[], ${grantPayloads}::text[]) AS t (id, payload)`;
    await sql`
      INSERT INTO oidc_payloads (model, id, payload, grant_id, account_id, expires_at, used_at, scope)
      SELECT 'AccessToken', t.id, t.payload::jsonb, t.grant_id, ${user.id}, to_timestamp(${exp}), now(), ${BENCH_SCOPE}
      FROM unnest(${ids}::text[], ${payloads}::text[], ${grants}::text[]) AS t (id, payload, grant_id)`;
    await sql`ANALYZE oidc_payloads`;
    await sql`ANALYZE users`;
    return { userId: user.id, tokens };
  }
}

/**
 * `count` users named `<prefix>0`… with the password `password`, hashed once by Mauth's own
 * hasher with the configured scheme (every user gets that hash: verifying it costs the same).
 */
export async function seedPasswordUsers(
  url: string,
  hasher: PasswordHasher,
  prefix: string,
  count: number,
  password: string,
): Promise<{ usernames: string[]; hash: string }> {
  const sql = postgres(url, { max: 2, onnotice: () => {}, transform: { undefined: null } });
  try {
    const { hash, version } = await hasher.hash(password);
    const usernames: string[] = [];
    for (let i = 0; i < count; i += 1) {
      const user = await createUser(sql, { username: `${prefix}${i}` });
      await setPassword(sql, { userId: user.id, hashedPassword: hash, version });
      usernames.push(user.username);
    }
    return { usernames, hash };
  } finally {
    await sql.end({ timeout: 5 });
  }
}
