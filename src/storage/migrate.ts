// Applies the append-only SQL files of migrations/ in name order. A session-level advisory lock
// makes instances that start together take turns; each file runs in its own transaction.
import { readdir, readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import type { Sql } from './db.js';

export const MIGRATIONS_DIR = fileURLToPath(new URL('../../migrations/', import.meta.url));

/** Arbitrary constant identifying Mauth's migration lock among advisory locks. */
const MIGRATION_LOCK_KEY = 0x6d61757468;

export interface MigrationResult {
  applied: string[];
}

export async function listMigrations(dir = MIGRATIONS_DIR): Promise<string[]> {
  const files = await readdir(dir);
  return files.filter((f) => f.endsWith('.sql')).sort();
}

export async function migrate(sql: Sql, dir = MIGRATIONS_DIR): Promise<MigrationResult> {
  const files = await listMigrations(dir);
  // reserve() pins one connection, so the session-level lock and unlock happen on the same one.
  const conn = await sql.reserve();
  try {
    await conn`SELECT pg_advisory_lock(${MIGRATION_LOCK_KEY})`;
    try {
      await conn`
        CREATE TABLE IF NOT EXISTS mauth_migrations (
          name       text PRIMARY KEY,
          applied_at timestamptz NOT NULL DEFAULT now()
        )`;
      const done = new Set((await conn<{ name: string }[]>`SELECT name FROM mauth_migrations`).map((r) => r.name));
      const applied: string[] = [];
      for (const file of files) {
        if (done.has(file)) continue;
        const text = await readFile(new URL(file, `file://${dir.endsWith('/') ? dir : `${dir}/`}`), 'utf8');
        await conn`BEGIN`;
        try {
          await conn.unsafe(text);
          await conn`INSERT INTO mauth_migrations (name) VALUES (${file})`;
          await conn`COMMIT`;
        } catch (err) {
          await conn`ROLLBACK`;
          throw new Error(`migration ${file} failed: ${(err as Error).message}`, { cause: err });
        }
        applied.push(file);
      }
      return { applied };
    } finally {
      await conn`SELECT pg_advisory_unlock(${MIGRATION_LOCK_KEY})`;
    }
  } finally {
    conn.release();
  }
}

export interface MigrationState {
  /** Files of migrations/ not applied to the database yet. */
  pending: string[];
  /** Applied to the database but not among the files: a newer Mauth migrated it. */
  unknown: string[];
}

/** Compares the database with migrations/ without changing either (`mauth doctor`). */
export async function migrationState(sql: Sql, dir = MIGRATIONS_DIR): Promise<MigrationState> {
  const files = await listMigrations(dir);
  const [table] = await sql<{ exists: boolean }[]>`SELECT to_regclass('mauth_migrations') IS NOT NULL AS exists`;
  const done = table.exists ? (await sql<{ name: string }[]>`SELECT name FROM mauth_migrations`).map((r) => r.name) : [];
  const known = new Set(files);
  const applied = new Set(done);
  return { pending: files.filter((f) => !applied.has(f)), unknown: done.filter((n) => !known.has(n)).sort() };
}
