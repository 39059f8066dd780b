// Database connection: a PostgreSQL server when `database` names one, otherwise an embedded
// PGlite database in `database.embedded_path`, served over a loopback socket so the same
// `postgres` client and the same SQL work for both.
import { existsSync } from 'node:fs';
import { chmod, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createConnection } from 'node:net';
import { join, resolve } from 'node:path';
import postgres from 'postgres';
import { splitUriTls } from '../config/database.js';
import type { DatabaseConfig } from '../config/types.js';
import { clientTls } from './db-tls.js';

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
  /**
   * Applies `statement_timeout`, `lock_timeout` and `idle_in_transaction_session_timeout` to
   * every connection: the pools that serve requests and run jobs, so a stalled statement, a held
   * lock or an abandoned transaction gives its connection back instead of exhausting the pool.
   * Migrations and one-off commands go without.
   */
  bounded?: boolean;
  /** Called with the text of every statement as it is sent (tests count the statements of a request). */
  onQuery?: (query: string, connection: number) => void;
  /**
   * A connection held open for LISTEN: no idle timeout or lifetime (closing it would lose
   * notifications), named `applicationName` in pg_stat_activity, and told of every notification
   * and every close (to reconnect, and to stop trusting that none was missed).
   */
  listener?: {
    applicationName: string;
    onNotify(channel: string, payload: string): void;
    onClose(): void;
  };
}

/** Startup parameters (milliseconds) for the configured timeouts; 0 leaves the server's default. */
function timeoutSettings(config: DatabaseConfig): Record<string, string> {
  const settings: Record<string, string> = {};
  if (config.statement_timeout > 0) settings.statement_timeout = String(config.statement_timeout * 1000);
  if (config.lock_timeout > 0) settings.lock_timeout = String(config.lock_timeout * 1000);
  // statement_timeout does not cover a connection left idle inside a transaction (code that
  // waits on something else while holding one): PostgreSQL ends such a session after as long as
  // a statement may run, giving the connection back. No key of its own: a transaction of ours
  // never waits longer than one statement between two, and 0 turns both off for PgBouncer.
  if (config.statement_timeout > 0) settings.idle_in_transaction_session_timeout = String(config.statement_timeout * 1000);
  return settings;
}

/** One round trip to the database (health checks). */
export async function ping(sql: Db): Promise<void> {
  await sql`SELECT 1`;
}

/** The database server's clock (`mauth doctor` compares it with this host's). */
export async function databaseNow(sql: Db): Promise<Date> {
  const [row] = await sql<{ now: Date }[]>`SELECT clock_timestamp() AS now`;
  return row.now;
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
    ...(options.onQuery ? { debug: (connection: number, query: string) => options.onQuery!(query, connection) } : {}),
  } satisfies postgres.Options<Record<string, postgres.PostgresType>>;

  // The embedded database has one connection and no other client to wait for. It gets no
  // timeouts: PGlite (0.5, PostgreSQL 18 in WASM) accepts statement_timeout, lock_timeout and
  // idle_in_transaction_session_timeout but never enforces them (it has no timer signals; a
  // 200 ms statement_timeout let pg_sleep(1.5) and a 26 s query finish), so setting them would
  // only pretend to bound it.
  if (isEmbedded(config)) return connectEmbedded(config, common);

  const listener = options.listener;
  const server = {
    ...common,
    max: listener ? 1 : (options.max ?? config.max_connections),
    ssl: await clientTls(config),
    connection: {
      ...common.connection,
      ...(options.bounded ? timeoutSettings(config) : {}),
      ...(listener ? { application_name: listener.applicationName } : {}),
    },
    ...(listener
      ? { idle_timeout: 0, max_lifetime: 0, fetch_types: false, onnotify: listener.onNotify, onclose: () => listener.onClose() }
      : {}),
  };
  const sql = config.uri
    ? postgres(splitUriTls(config.uri).uri, server)
    : postgres({
        ...server,
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

/**
 * The embedded database has one owner process, which serves it on a UNIX socket inside the data
 * folder (mode 0600: only this user may connect; PGlite has no authentication). Other processes
 * (`mauth manage …` while the server runs) connect to that socket instead of opening the files a
 * second time, which would corrupt them.
 */
const SOCKET_NAME = '.s.mauth';
const OWNER_FILE = 'mauth-embedded.json';

async function socketOpen(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ path }, () => {
      socket.end();
      resolve(true);
    });
    socket.on('error', () => resolve(false));
  });
}

async function runningOwner(dir: string): Promise<string | undefined> {
  const file = join(dir, OWNER_FILE);
  if (!existsSync(file)) return undefined;
  try {
    const { socket, pid } = JSON.parse(await readFile(file, 'utf8')) as { socket: string; pid: number };
    process.kill(pid, 0);
    return (await socketOpen(socket)) ? socket : undefined;
  } catch {
    return undefined;
  }
}

async function connectEmbedded(config: DatabaseConfig, common: postgres.Options<Record<string, postgres.PostgresType>>): Promise<Database> {
  const dir = resolve(config.embedded_path);
  const clientOptions = { ...common, username: 'postgres', database: 'postgres', max: 1 };
  const ownerSocket = await runningOwner(dir);
  if (ownerSocket !== undefined) {
    const sql = postgres({ ...clientOptions, path: ownerSocket });
    return { sql, embedded: true, close: () => sql.end({ timeout: 5 }) };
  }
  await mkdir(dir, { recursive: true, mode: 0o700 });
  // The folder holds every account's data and the socket: this user's only.
  await chmod(dir, 0o700);
  const socket = join(dir, SOCKET_NAME);
  if (Buffer.byteLength(socket) > 100) {
    throw new Error(`database.embedded_path ${dir} is too long for a UNIX socket path; use a shorter folder`);
  }
  await rm(socket, { force: true });
  const { PGlite } = await import('@electric-sql/pglite');
  const { PGLiteSocketServer } = await import('@electric-sql/pglite-socket');
  const db = await PGlite.create(dir);
  // The socket server serialises connections, keeping each transaction to its own connection.
  const server = new PGLiteSocketServer({ db, path: socket, maxConnections: 16 });
  // No moment where the socket exists with looser permissions than 0600.
  const umask = process.umask(0o077);
  try {
    await server.start();
  } finally {
    process.umask(umask);
  }
  await chmod(socket, 0o600);
  await writeFile(join(dir, OWNER_FILE), JSON.stringify({ socket, pid: process.pid }), { mode: 0o600 });
  const sql = postgres({ ...clientOptions, path: socket });
  return {
    sql,
    embedded: true,
    async close() {
      await sql.end({ timeout: 5 });
      await rm(join(dir, OWNER_FILE), { force: true });
      await server.stop();
      await db.close();
    },
  };
}
