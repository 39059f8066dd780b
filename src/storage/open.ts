// Opening the database for a process: the server, the worker and the one-off CLI commands. It
// lives here rather than beside the server so that commands which only need the database do not
// load the HTTP stack (and with it oidc-provider, which warns about the runtime at import).
import type { Logger } from 'pino';
import type { Config } from '../config/types.js';
import { connect, isEmbedded, ping, type Database } from './db.js';
import { migrate } from './migrate.js';

/**
 * The first round trip, so that an unreachable or misconfigured database stops start-up with one
 * line naming it (postgres.js connects lazily: without this the first failing query would be
 * wherever start-up happens to touch the database first). The pool is closed on failure.
 */
async function reach(db: Database): Promise<void> {
  try {
    await ping(db.sql);
  } catch (err) {
    await db.close().catch(() => {});
    throw new Error(`cannot connect to the database: ${(err as Error).message}`, { cause: err });
  }
}

async function migrateOrClose(db: Database, log: Logger): Promise<void> {
  try {
    const { applied } = await migrate(db.sql);
    if (applied.length) log.info({ applied }, 'database migrated');
  } catch (err) {
    await db.close().catch(() => {});
    throw err;
  }
}

/**
 * `bounded`: the pool serves requests or jobs, so its statements get `database.statement_timeout`
 * and `lock_timeout`. Migrations still run without them, on a connection of their own: they may
 * take longer, and wait for another instance's migration lock.
 */
export async function openDatabase(
  config: Config,
  log: Logger,
  runMigrations: boolean,
  options: { bounded?: boolean; onQuery?: (query: string, connection: number) => void } = {},
): Promise<Database> {
  if (runMigrations && options.bounded && !isEmbedded(config.database)) {
    const migrator = await connect(config.database, { max: 1 });
    await reach(migrator);
    try {
      const { applied } = await migrate(migrator.sql);
      if (applied.length) log.info({ applied }, 'database migrated');
    } finally {
      await migrator.close();
    }
    return connect(config.database, { bounded: true, onQuery: options.onQuery });
  }
  const db = await connect(config.database, { bounded: options.bounded, onQuery: options.onQuery });
  await reach(db);
  if (db.embedded) {
    log.warn(
      { path: config.database.embedded_path },
      'running on the embedded database (PGlite): single node only; configure database.uri for production',
    );
  }
  if (runMigrations) await migrateOrClose(db, log);
  return db;
}
