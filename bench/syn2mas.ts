// `npm run bench -- syn2mas`: how long `mauth syn2mas migrate` takes for a large Synapse —
// 100,000 users with 200,000 devices by default (half of them refreshable), against the local
// PostgreSQL. The target is under two minutes. The Synapse database is built with Synapse's
// schema (test/fixtures/synapse-schema.sql) in set-based SQL; the command runs in this process
// through the CLI's own entry point, as an operator would run it. See bench/README.md.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { join } from 'node:path';
import bcrypt from 'bcryptjs';
import postgres from 'postgres';
import YAML from 'yaml';
import { main as mauth } from '../src/cli/main.js';
import { generateConfig } from '../src/config/load.js';
import { createBenchDatabase, type BenchDatabase } from './fixtures.js';

function envNumber(name: string, fallback: number): number {
  const value = Number(process.env[name]);
  return Number.isInteger(value) && value > 0 ? value : fallback;
}

const USERS = envNumber('BENCH_USERS', 100_000);
const DEVICES = envNumber('BENCH_DEVICES', 2 * USERS);
const TARGET_SECONDS = 120;
const SERVER_NAME = 'bench.localhost';
const PEPPER = 'bench-pepper';

function log(message: string): void {
  process.stderr.write(`[bench] ${message}\n`);
}

/** Users, one e-mail each, devices spread over them, each with an access token; every other device's is refreshable. */
async function fillSynapse(url: string): Promise<void> {
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  try {
    await sql.unsafe(await readFile(new URL('../test/fixtures/synapse-schema.sql', import.meta.url), 'utf8'));
    // One real bcrypt hash for everybody: hashing 100,000 passwords is Synapse's work, not the migration's.
    const hash = bcrypt.hashSync(`bench-password${PEPPER}`, 4);
    const user = (i: string) => `'@user' || ${i} || ':${SERVER_NAME}'`;
    await sql`
      INSERT INTO users (name, password_hash, creation_ts, admin)
      SELECT '@user' || i || ${`:${SERVER_NAME}`}, ${hash}, 1700000000 + i, CASE WHEN i % 1000 = 0 THEN 1 ELSE 0 END
      FROM generate_series(1, ${USERS}::int) i`;
    await sql`
      INSERT INTO user_threepids (user_id, medium, address, validated_at, added_at)
      SELECT '@user' || i || ${`:${SERVER_NAME}`}, 'email', 'user' || i || '@bench.example', 1700000000000, 1700000000000
      FROM generate_series(1, ${USERS}::int) i`;
    await sql.unsafe(`
      INSERT INTO devices (user_id, device_id, display_name, last_seen, ip, user_agent)
      SELECT ${user(`((d - 1) % ${USERS} + 1)`)}, 'DEVICE' || d, 'Phone', 1700000000000, '192.0.2.1', 'Element/1.0'
      FROM generate_series(1, ${DEVICES}) d`);
    await sql.unsafe(`
      INSERT INTO refresh_tokens (id, user_id, device_id, token)
      SELECT d, ${user(`((d - 1) % ${USERS} + 1)`)}, 'DEVICE' || d, 'syr_' || md5('r' || d) || '_' || d
      FROM generate_series(1, ${DEVICES}) d WHERE d % 2 = 0`);
    await sql.unsafe(`
      INSERT INTO access_tokens (id, user_id, device_id, token, valid_until_ms, last_validated, refresh_token_id, used)
      SELECT d, ${user(`((d - 1) % ${USERS} + 1)`)}, 'DEVICE' || d, 'syt_' || md5('a' || d) || '_' || d,
             CASE WHEN d % 2 = 0 THEN 4000000000000 END, 1700000000000, CASE WHEN d % 2 = 0 THEN d END, d % 2 = 0
      FROM generate_series(1, ${DEVICES}) d`);
    await sql`ANALYZE`;
  } finally {
    await sql.end({ timeout: 5 });
  }
}

async function configFiles(mauthUrl: string, dir: string): Promise<string[]> {
  const base = join(dir, 'base.yaml');
  const local = join(dir, 'bench.yaml');
  await writeFile(base, await generateConfig({ embedded: false, databaseUri: mauthUrl, homeserver: SERVER_NAME }), { mode: 0o600 });
  await writeFile(
    local,
    YAML.stringify({
      database: { uri: mauthUrl },
      matrix: { kind: 'synapse', homeserver: SERVER_NAME, secret: 'bench-secret-0123456789', endpoint: 'http://127.0.0.1:9/' },
      passwords: { schemes: [{ version: 1, algorithm: 'bcrypt', secret: PEPPER, unicode_normalization: true }, { version: 2, algorithm: 'argon2id' }] },
    }),
    { mode: 0o600 },
  );
  return [base, local];
}

async function counts(url: string): Promise<Record<string, number>> {
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  try {
    const out: Record<string, number> = {};
    for (const table of ['users', 'user_passwords', 'user_emails', 'compat_sessions', 'compat_access_tokens', 'compat_refresh_tokens']) {
      const [{ n }] = await sql<{ n: number }[]>`SELECT count(*)::int AS n FROM ${sql(table)}`;
      out[table] = n;
    }
    return out;
  } finally {
    await sql.end({ timeout: 5 });
  }
}

async function run(): Promise<void> {
  const cleanups: (() => Promise<void>)[] = [];
  try {
    const synapse: BenchDatabase = await createBenchDatabase();
    cleanups.push(() => synapse.drop());
    const target: BenchDatabase = await createBenchDatabase();
    cleanups.push(() => target.drop());
    const dir = await mkdtemp(join(os.tmpdir(), 'mauth-bench-syn2mas-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));

    log(`Synapse database ${synapse.name}: ${USERS} users, ${DEVICES} devices (${Math.floor(DEVICES / 2)} refreshable)`);
    const filling = Date.now();
    await fillSynapse(synapse.url);
    log(`filled in ${((Date.now() - filling) / 1000).toFixed(1)} s; migrating into ${target.name}`);

    const files = await configFiles(target.url, dir);
    const started = process.hrtime.bigint();
    await mauth(['node', 'mauth', ...files.flatMap((f) => ['-c', f]), 'syn2mas', 'migrate', '--synapse-database-uri', synapse.url, '--active-within', '0']);
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    if (process.exitCode) throw new Error(`syn2mas migrate exited with ${process.exitCode}`);

    const rows = await counts(target.url);
    const expected = { users: USERS, user_passwords: USERS, user_emails: USERS, compat_sessions: DEVICES, compat_access_tokens: DEVICES, compat_refresh_tokens: Math.floor(DEVICES / 2) };
    for (const [table, want] of Object.entries(expected)) {
      if (rows[table] !== want) throw new Error(`${table}: ${rows[table]} rows, expected ${want}`);
    }
    const total = Object.values(rows).reduce((a, b) => a + b, 0);
    const cpus = os.cpus();
    process.stdout.write(
      [
        '',
        `syn2mas migrate: ${USERS} users, ${DEVICES} devices → ${total} rows in Mauth in ${seconds.toFixed(1)} s (${Math.round(total / seconds)} rows/s)`,
        `target: under ${TARGET_SECONDS} s — ${seconds < TARGET_SECONDS ? 'met' : 'MISSED'}`,
        `machine: ${cpus.length} CPUs (${cpus[0]?.model.trim() ?? 'unknown'}), node ${process.version}, PostgreSQL ${synapse.serverVersion}; both databases on the same server`,
        '',
      ].join('\n'),
    );
  } finally {
    for (const fn of cleanups.reverse()) await fn().catch((err: unknown) => log(`cleanup: ${(err as Error).message}`));
  }
}

run().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});
