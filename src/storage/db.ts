// Database connection: a PostgreSQL server when `database` names one, otherwise an embedded
// PGlite database in `database.embedded_path`, served over a loopback socket so the same
// `postgres` client and the same SQL work for both.
import postgres from 'postgres';
import type { DatabaseConfig } from '../config/types.js';

export type Sql = postgres.Sql;
export type Tx = postgres.TransactionSql;
/** Anything that can run a query: the pool or an open transaction. Repositories take this. */
export type Db = postgres.Sql | postgres.TransactionSql;

export interface Database {
  sql: Sql;
  /** True when running on the embedded, single-node PGlite database. */
  embedded: boolean;
  close(): Promise<void>;
}

export interface ConnectOptions {
  /** Schema to use as search_path (tests give each file its own). */
  schema?: string;
  /** Overrides the pool size (the embedded database always uses one connection). */
  max?: number;
  onNotice?: (notice: unknown) => void;
}

export function isEmbedded(config: DatabaseConfig): boolean {
  return !config.uri && !config.host && !config.socket;
}

export async function connect(config: DatabaseConfig, options: ConnectOptions = {}): Promise<Database> {
  const common = {
    onnotice: options.onNotice ?? (() => {}),
    connect_timeout: config.connect_timeout,
    idle_timeout: config.idle_timeout,
    max_lifetime: config.max_lifetime,
    connection: options.schema ? { search_path: options.schema } : undefined,
    transform: { undefined: null },
  } satisfies postgres.Options<Record<string, postgres.PostgresType>>;

  if (isEmbedded(config)) {
    const { PGlite } = await import('@electric-sql/pglite');
    const { PGLiteSocketServer } = await import('@electric-sql/pglite-socket');
    const db = await PGlite.create(config.embedded_path);
    const server = new PGLiteSocketServer({ db, port: 0, host: '127.0.0.1' });
    await server.start();
    const address = server.getServerConn();
    const port = Number(address.split(':').pop());
    const sql = postgres({ ...common, host: '127.0.0.1', port, username: 'postgres', database: 'postgres', max: 1 });
    return {
      sql,
      embedded: true,
      async close() {
        await sql.end({ timeout: 5 });
        await server.stop();
        await db.close();
      },
    };
  }

  const max = options.max ?? config.max_connections;
  const sql = config.uri
    ? postgres(config.uri, { ...common, max })
    : postgres({
        ...common,
        max,
        host: config.socket ?? config.host,
        port: config.port,
        username: config.username,
        password: config.password,
        database: config.database,
      });
  return {
    sql,
    embedded: false,
    async close() {
      await sql.end({ timeout: 5 });
    },
  };
}
