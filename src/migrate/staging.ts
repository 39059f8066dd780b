// The write side of a migration in: rows are buffered per table and staged in batches, one
// transaction per phase; `commit` then moves everything into Mauth's tables in one transaction
// that re-checks the database is still empty, checks the result and commits (or, for a dry run,
// rolls back). See storage/bulk-import.ts for why nothing reaches Mauth's tables before that.
import type { DatabaseConfig } from '../config/types.js';
import * as bulk from '../storage/bulk-import.js';
import { connect, isEmbedded, type Database, type Tx } from '../storage/db.js';

export class ImportRefused extends Error {}

/** The migration wrote something other than what it read: nothing is committed. */
export class ConsistencyError extends Error {}

class DryRunRollback extends Error {
  constructor(readonly moved: Record<bulk.StagedTable, number>) {
    super('dry run: rolled back');
  }
}

export class StageWriter {
  private readonly buffers = new Map<bulk.StagedTable, unknown[]>();
  /** The COPY in flight: the next batch is prepared meanwhile; one at a time on the connection. */
  private inFlight: Promise<void> = Promise.resolve();

  constructor(private readonly tx: Tx) {}

  async add<T extends bulk.StagedTable>(table: T, row: bulk.StagedRow<T>): Promise<void> {
    let buffer = this.buffers.get(table);
    if (!buffer) this.buffers.set(table, (buffer = []));
    buffer.push(row);
    if (buffer.length >= bulk.ROWS_PER_COPY) await this.flush(table);
  }

  private async flush(table: bulk.StagedTable): Promise<void> {
    const rows = this.buffers.get(table);
    if (!rows?.length) return;
    this.buffers.set(table, []);
    await this.inFlight;
    this.inFlight = bulk.stageRows(this.tx, table, rows as bulk.StagedRow<typeof table>[]);
    // Awaited by the next flush; until then a failure must not count as unhandled.
    this.inFlight.catch(() => undefined);
  }

  async flushAll(): Promise<void> {
    for (const table of bulk.STAGED_TABLES) await this.flush(table);
    await this.inFlight;
  }
}

export interface CommitOptions {
  dryRun: boolean;
  /** Runs in the moving transaction before any row moves (e.g. writing the configured upstream providers). */
  prepare?: (tx: Tx) => Promise<void>;
  /** Rows each table must have received, as the phases counted them. */
  expected: Partial<Record<bulk.StagedTable, number>>;
}

/**
 * Pausing the checks alters the tables, which only their owner may: a database user that is not
 * (the tables were made by another role) moves the rows with the checks in place, only slower.
 */
async function pauseIfOwner(tx: Tx, tables: bulk.StagedTable[]): Promise<bulk.PausedChecks | undefined> {
  try {
    return (await tx.savepoint((sp) => bulk.pauseChecks(sp, tables))) as bulk.PausedChecks;
  } catch (err) {
    if ((err as { code?: string }).code === '42501') return undefined;
    throw err;
  }
}

export class Staging {
  private constructor(private readonly db: Database) {}

  /** A connection of its own (temporary tables live on one connection), with empty staging tables. */
  static async open(database: DatabaseConfig): Promise<Staging> {
    if (isEmbedded(database)) {
      throw new ImportRefused('migrations in need PostgreSQL (database.uri or host), not the embedded database');
    }
    const db = await connect(database, { max: 1 });
    try {
      await bulk.createStaging(db.sql);
    } catch (err) {
      await db.close();
      throw err;
    }
    return new Staging(db);
  }

  /** One phase: everything `run` adds is staged in one transaction. */
  async phase<T>(run: (writer: StageWriter) => Promise<T>): Promise<T> {
    return (await this.db.sql.begin(async (tx) => {
      const writer = new StageWriter(tx);
      const result = await run(writer);
      await writer.flushAll();
      return result;
    })) as T;
  }

  /** Moves every staged row into Mauth's tables in one transaction; returns the rows moved per table. */
  async commit(options: CommitOptions): Promise<Record<bulk.StagedTable, number>> {
    const staged = await bulk.stagedCounts(this.db.sql);
    try {
      return (await this.db.sql.begin(async (tx) => {
        const existing = await bulk.lockForImport(tx);
        if (existing > 0) throw new ImportRefused(`Mauth's database already has ${existing} users: a migration in runs only once, into an empty database`);
        await options.prepare?.(tx);
        const paused = await pauseIfOwner(tx, bulk.STAGED_TABLES.filter((table) => staged[table] > 0));
        const moved = {} as Record<bulk.StagedTable, number>;
        for (const table of bulk.STAGED_TABLES) {
          moved[table] = await bulk.promote(tx, table);
          if (moved[table] !== staged[table]) throw new ConsistencyError(`${table}: ${staged[table]} rows staged, ${moved[table]} moved`);
          const want = options.expected[table] ?? 0;
          if (moved[table] !== want) throw new ConsistencyError(`${table}: the phases counted ${want} rows, ${moved[table]} were written`);
        }
        if (paused) await bulk.resumeChecks(tx, paused);
        const invariants = await bulk.importInvariants(tx);
        for (const [name, count] of Object.entries(invariants)) {
          if (count !== 0) throw new ConsistencyError(`consistency check failed: ${name} = ${count}`);
        }
        if (options.dryRun) throw new DryRunRollback(moved);
        return moved;
      })) as Record<bulk.StagedTable, number>;
    } catch (err) {
      if (err instanceof DryRunRollback) return err.moved;
      throw err;
    }
  }

  async close(): Promise<void> {
    await this.db.close();
  }
}
