// GET /health: 200 when the database answers `SELECT 1` within two seconds, else 503 with the
// reason, so a load balancer takes a stalled instance out instead of waiting with it.
import type { Request, Response } from 'express';
import { ping, type Sql } from '../storage/db.js';
import { databaseUnavailable } from '../storage/db-errors.js';

export const HEALTH_DEADLINE_MS = 2000;

export function healthHandler(sql: Sql) {
  return async function health(_req: Request, res: Response): Promise<void> {
    res.set('Cache-Control', 'no-store');
    // Never cancelled: postgres.js's cancel() of a query pipelined behind another hands the next
    // query this one's result (3.4.9), far worse than a late SELECT 1. A failure after the
    // deadline has answered is nobody's business.
    const answered = ping(sql).then(() => 'ok' as const);
    answered.catch(() => undefined);
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<'late'>((resolve) => {
      timer = setTimeout(() => resolve('late'), HEALTH_DEADLINE_MS);
    });
    try {
      const outcome = await Promise.race([answered, deadline]);
      if (outcome === 'ok') {
        res.json({ status: 'ok' });
        return;
      }
      res.status(503).json({ status: 'error', error: `the database did not answer within ${HEALTH_DEADLINE_MS / 1000} s (stalled, or every connection is busy)` });
    } catch (err) {
      res.status(503).json({ status: 'error', error: databaseUnavailable(err) ?? 'the database is unreachable' });
    } finally {
      clearTimeout(timer);
    }
  };
}
