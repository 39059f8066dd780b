// Failures of the admin API, answered in MAS's error shape.
import { HomeserverError } from '../homeserver/index.js';
import { databaseUnavailable } from '../storage/db-errors.js';

/** An answer in MAS's error shape: `{errors: [{title}]}` with this status. */
export class AdminError extends Error {
  override readonly name = 'AdminError';
  constructor(
    readonly status: number,
    readonly title: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(title);
  }
}

export const notFound = (what: string) => new AdminError(404, `${what} not found`);

/** A database or homeserver that cannot answer now: 503, try again shortly. Undefined for anything else. */
export function unavailableSource(error: unknown): { source: 'database' | 'homeserver'; reason: string } | undefined {
  const reason = databaseUnavailable(error);
  if (reason) return { source: 'database', reason };
  let current = error;
  for (let depth = 0; depth < 5 && current; depth += 1) {
    if (current instanceof HomeserverError) return { source: 'homeserver', reason: current.message };
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}
