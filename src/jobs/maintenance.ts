// Periodic housekeeping next to the job worker: expired rows are pruned every hour and, when
// experimental.inactive_session_expiration is set, idle sessions are ended every 15 s.
import type { Logger } from 'pino';
import type { Clock } from '../clock.js';
import type { Sql } from '../storage/db.js';
import { pruneExpired } from '../storage/cleanup.js';
import { SWEEP_INTERVAL_MS, expireInactiveSessions, type InactiveSessionExpiration, type SessionEnders } from './session-expiry.js';

export interface MaintenanceOptions {
  /** Pruning period (default: an hour). */
  intervalMs?: number;
  /** Ends idle sessions when set. */
  sessionExpiry?: { settings: InactiveSessionExpiration; enders: SessionEnders; intervalMs?: number };
}

interface Periodic {
  /** Stops the timers and waits for a run in progress. */
  stop(): Promise<void>;
  /** Runs the task now (after a run in progress, which may have read an older clock) and waits for it. */
  runNow(): Promise<void>;
}

export interface Maintenance {
  stop(): Promise<void>;
  /** Ends idle sessions now rather than at the next sweep: for tests that move the clock. */
  sweepNow(): Promise<void>;
}

/** Runs `task` every `intervalMs` (first after `firstMs`), never twice at once. */
function every(intervalMs: number, firstMs: number, task: () => Promise<void>): Periodic {
  let running: Promise<void> | undefined;
  const run = () => {
    running ??= task().finally(() => {
      running = undefined;
    });
  };
  const first = setTimeout(run, firstMs);
  const timer = setInterval(run, intervalMs);
  first.unref();
  timer.unref();
  return {
    async stop() {
      clearTimeout(first);
      clearInterval(timer);
      await running;
    },
    async runNow() {
      await running;
      run();
      await running;
    },
  };
}

export function startMaintenance(sql: Sql, log: Logger, clock: Clock, options: MaintenanceOptions = {}): Maintenance {
  const intervalMs = options.intervalMs ?? 3_600_000;
  const tasks = [
    every(intervalMs, Math.min(60_000, intervalMs), async () => {
      try {
        const counts = await pruneExpired(sql, clock.now());
        const pruned = Object.fromEntries(Object.entries(counts).filter(([, n]) => n > 0));
        if (Object.keys(pruned).length) log.info({ pruned }, 'expired rows pruned');
      } catch (err) {
        log.warn({ err }, 'pruning expired rows failed; will try again');
      }
    }),
  ];
  const expiry = options.sessionExpiry;
  let sweep: Periodic | undefined;
  if (expiry) {
    const sweepMs = expiry.intervalMs ?? SWEEP_INTERVAL_MS;
    sweep = every(sweepMs, sweepMs, async () => {
      try {
        const ended = await expireInactiveSessions(sql, expiry.settings, expiry.enders, clock.now());
        if (ended.oauth + ended.compat + ended.browser > 0) log.info({ ended }, 'inactive sessions ended');
      } catch (err) {
        log.warn({ err }, 'ending inactive sessions failed; will try again');
      }
    });
    tasks.push(sweep);
  }
  return {
    async stop() {
      await Promise.all(tasks.map((task) => task.stop()));
    },
    async sweepNow() {
      await sweep?.runNow();
    },
  };
}
