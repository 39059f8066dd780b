// A Synapse database for the migration tests, built the way Synapse fills it: the schema subset
// in test/fixtures/synapse-schema.sql, users with bcrypt hashes over NFKC(password) + pepper,
// devices, `syt_`/`syr_` tokens in Synapse's format, threepids and external ids.
import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { crc32 } from 'node:zlib';
import bcrypt from 'bcryptjs';
import postgres from 'postgres';
import YAML from 'yaml';
import { createDatabase } from '../support/mauth-process.js';

const SCHEMA = new URL('../fixtures/synapse-schema.sql', import.meta.url);
const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
const ALPHANUMERIC = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

export interface SynapseDatabase {
  url: string;
  sql: postgres.Sql;
  serverName: string;
  pepper: string;
  user(localpart: string, fields?: Partial<{ password: string; admin: boolean; deactivated: boolean; locked: boolean; guest: boolean; appservice: string; createdAt: Date }>): Promise<string>;
  device(localpart: string, deviceId: string, lastSeen?: Date): Promise<void>;
  /** A token without refresh token; returns it. */
  accessToken(localpart: string, deviceId: string | null): Promise<string>;
  /** An access token with its refresh token; returns both. */
  refreshPair(localpart: string, deviceId: string): Promise<{ accessToken: string; refreshToken: string }>;
  threepid(localpart: string, medium: string, address: string): Promise<void>;
  externalId(localpart: string, authProvider: string, externalId: string): Promise<void>;
  /** Every row of every table, to compare before and after (Synapse's database is only read). */
  snapshot(): Promise<string>;
  /** Writes a homeserver.yaml for this database; `extra` is merged at the top level. */
  writeConfig(path: string, extra?: Record<string, unknown>): Promise<string>;
  drop(): Promise<void>;
}

function base62(num: number): string {
  let out = '';
  do {
    out = BASE62[num % 62] + out;
    num = Math.floor(num / 62);
  } while (num > 0);
  return out.padStart(6, '0');
}

/** `syt_<unpadded base64 localpart>_<20 letters>_<base62 crc32>`, as Synapse's AuthHandler makes them. */
export function synapseToken(prefix: 'syt' | 'syr', localpart: string): string {
  const random = [...randomBytes(20)].map((b) => ALPHANUMERIC[b % ALPHANUMERIC.length]).join('');
  const base = `${prefix}_${Buffer.from(localpart).toString('base64').replace(/=+$/, '')}_${random}`;
  return `${base}_${base62(crc32(base) >>> 0)}`;
}

export async function createSynapseDatabase(serverName: string, pepper: string): Promise<SynapseDatabase> {
  const db = await createDatabase();
  const sql = postgres(db.url, { max: 2, onnotice: () => {} });
  await sql.unsafe(await readFile(SCHEMA, 'utf8'));
  let nextId = 1;
  const mxid = (localpart: string) => `@${localpart}:${serverName}`;
  return {
    url: db.url,
    sql,
    serverName,
    pepper,
    async user(localpart, f = {}) {
      const hash = f.password === undefined ? null : bcrypt.hashSync(f.password.normalize('NFKC') + pepper, 4);
      await sql`
        INSERT INTO users (name, password_hash, creation_ts, admin, is_guest, appservice_id, deactivated, locked)
        VALUES (${mxid(localpart)}, ${hash}, ${Math.floor((f.createdAt ?? new Date('2024-03-01T10:00:00Z')).getTime() / 1000)},
                ${f.admin ? 1 : 0}, ${f.guest ? 1 : 0}, ${f.appservice ?? null}, ${f.deactivated ? 1 : 0}, ${f.locked ?? false})`;
      return mxid(localpart);
    },
    async device(localpart, deviceId, lastSeen = new Date(Date.now() - 3 * 3600_000)) {
      await sql`
        INSERT INTO devices (user_id, device_id, display_name, last_seen, ip, user_agent)
        VALUES (${mxid(localpart)}, ${deviceId}, ${`${deviceId} display name`}, ${lastSeen.getTime()}, '192.0.2.1', 'Element/1.0')`;
    },
    async accessToken(localpart, deviceId) {
      const token = synapseToken('syt', localpart);
      await sql`
        INSERT INTO access_tokens (id, user_id, device_id, token, last_validated)
        VALUES (${nextId++}, ${mxid(localpart)}, ${deviceId}, ${token}, ${Date.now() - 3600_000})`;
      return token;
    },
    async refreshPair(localpart, deviceId) {
      const refreshToken = synapseToken('syr', localpart);
      const accessToken = synapseToken('syt', localpart);
      const refreshId = nextId++;
      await sql`INSERT INTO refresh_tokens (id, user_id, device_id, token) VALUES (${refreshId}, ${mxid(localpart)}, ${deviceId}, ${refreshToken})`;
      await sql`
        INSERT INTO access_tokens (id, user_id, device_id, token, valid_until_ms, last_validated, refresh_token_id, used)
        VALUES (${nextId++}, ${mxid(localpart)}, ${deviceId}, ${accessToken}, ${Date.now() + 300_000}, ${Date.now() - 60_000}, ${refreshId}, true)`;
      return { accessToken, refreshToken };
    },
    async threepid(localpart, medium, address) {
      const at = Date.now() - 86_400_000;
      await sql`INSERT INTO user_threepids (user_id, medium, address, validated_at, added_at) VALUES (${mxid(localpart)}, ${medium}, ${address}, ${at}, ${at})`;
    },
    async externalId(localpart, authProvider, externalId) {
      await sql`INSERT INTO user_external_ids (auth_provider, external_id, user_id) VALUES (${authProvider}, ${externalId}, ${mxid(localpart)})`;
    },
    async snapshot() {
      const parts: string[] = [];
      for (const table of ['users', 'user_threepids', 'user_external_ids', 'devices', 'access_tokens', 'refresh_tokens']) {
        const rows = await sql`SELECT * FROM ${sql(table)} ORDER BY 1, 2, 3`;
        parts.push(`${table}: ${JSON.stringify(rows)}`);
      }
      return parts.join('\n');
    },
    async writeConfig(path, extra = {}) {
      const url = new URL(db.url);
      const config = {
        server_name: serverName,
        database: {
          name: 'psycopg2',
          args: { user: decodeURIComponent(url.username), host: url.hostname, port: Number(url.port || 5432), dbname: url.pathname.slice(1), cp_min: 5, cp_max: 10 },
        },
        password_config: { pepper },
        ...extra,
      };
      await writeFile(path, YAML.stringify(config));
      return path;
    },
    async drop() {
      await sql.end({ timeout: 5 });
      await db.drop();
    },
  };
}

/** A digest of every table of Mauth's database: equal digests, equal contents. */
export async function databaseDigest(url: string): Promise<Record<string, string>> {
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  try {
    const tables = await sql<{ name: string }[]>`
      SELECT table_name AS name FROM information_schema.tables
      WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' ORDER BY table_name`;
    const out: Record<string, string> = {};
    for (const { name } of tables) {
      const [row] = await sql<{ n: number; digest: string | null }[]>`
        SELECT count(*)::int AS n, md5(string_agg(t::text, '|' ORDER BY t::text)) AS digest FROM ${sql(name)} t`;
      out[name] = `${row.n}:${row.digest ?? ''}`;
    }
    return out;
  } finally {
    await sql.end({ timeout: 5 });
  }
}

/** Runs every clean-up even when one fails (a server left running would keep the test process alive), then reports the first failure. */
export async function cleanUp(...steps: (() => Promise<unknown> | undefined)[]): Promise<void> {
  const results = [];
  for (const step of steps) results.push(await Promise.resolve().then(step).then(() => undefined, (err: unknown) => err));
  const failed = results.find((r) => r !== undefined);
  if (failed) throw failed;
}
