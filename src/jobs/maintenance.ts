// Periodic housekeeping next to the job worker: expired rows are pruned every hour.
import type { Logger } from 'pino';
import type { Sql } from '../storage/db.js';
import { pruneExpired } from '../storage/cleanup.js';

export function startMaintenance(sql: Sql, log: Logger, intervalMs = 3_600_000): { stop(): void } {
  let running = false;
  const run = async () => {
    if (running) return;
    running = true;
    try {
      const counts = await pruneExpired(sql);
      const pruned = Object.fromEntries(Object.entries(counts).filter(([, n]) => n > 0));
      if (Object.keys(pruned).length) log.info({ pruned }, 'expired rows pruned');
    } catch (err) {
      log.warn({ err }, 'pruning expired rows failed; will try again');
    } finally {
      running = false;
    }
  };
  const first = setTimeout(run, Math.min(60_000, intervalMs));
  const timer = setInterval(run, intervalMs);
  first.unref();
  timer.unref();
  return {
    stop() {
      clearTimeout(first);
      clearInterval(timer);
    },
  };
}
