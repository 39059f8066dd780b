// Holds a table lock from another session, the way a long migration or a stuck administrator's
// transaction would, so tests can stall the requests that read that table.
import postgres from 'postgres';

export interface TableLock {
  /** Resolves once `count` sessions of the database wait for a lock (bounded by `timeoutMs`). */
  waiters(count: number, timeoutMs?: number): Promise<void>;
  release(): Promise<void>;
}

/** Takes ACCESS EXCLUSIVE on `table` in an open transaction; resolves once it is held. */
export async function lockTable(databaseUrl: string, table: string): Promise<TableLock> {
  const holder = postgres(databaseUrl, { max: 1, onnotice: () => {} });
  // The holder's one connection is inside the transaction; watching needs another.
  const watcher = postgres(databaseUrl, { max: 1, onnotice: () => {} });
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  let locked!: () => void;
  const isLocked = new Promise<void>((resolve) => (locked = resolve));
  const done = holder.begin(async (tx) => {
    // A test's own constant table name: LOCK takes no bind parameter for it.
    if (!/^[a-z_][a-z0-9_]*$/.test(table)) throw new Error(`unexpected table name ${table}`);
    await tx.unsafe(`LOCK TABLE ${table} IN ACCESS EXCLUSIVE MODE`);
    locked();
    await released;
  });
  await Promise.race([isLocked, done]);
  let ended = false;
  return {
    async waiters(count, timeoutMs = 20_000) {
      const deadline = Date.now() + timeoutMs;
      while (Date.now() < deadline) {
        const [row] = await watcher<{ n: number }[]>`
          SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`;
        if ((row?.n ?? 0) >= count) return;
        await new Promise((r) => setTimeout(r, 50));
      }
      throw new Error(`fewer than ${count} sessions waited for the lock on ${table}`);
    },
    async release() {
      if (ended) return;
      ended = true;
      release();
      await done;
      await holder.end();
      await watcher.end();
    },
  };
}
