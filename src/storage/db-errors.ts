// Which database failures mean "try again shortly" (the server is down, stalled, restarting, or
// every connection is busy) rather than a bug: the HTTP layer answers those with 503 and
// Retry-After in the endpoint's protocol instead of a 500.

/** What to tell clients in Retry-After: long enough for a lock or a failover to pass, short enough to come back soon. */
export const RETRY_AFTER_SECONDS = 5;

/** postgres.js's own connection failures. */
const CLIENT_CODES: Record<string, string> = {
  CONNECT_TIMEOUT: 'the database did not accept a connection in time',
  CONNECTION_CLOSED: 'the database connection closed',
  CONNECTION_ENDED: 'the database connection ended',
  CONNECTION_DESTROYED: 'the database connection was destroyed',
};

/** Socket failures, counted only when postgres.js reports them for a query. */
const SOCKET_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'EPIPE']);

/** SQLSTATEs of a server that cannot serve now but will (PostgreSQL Appendix A). */
const SQLSTATES: Record<string, string> = {
  '57014': 'a database statement took too long (statement_timeout)',
  '55P03': 'a database lock was not available in time (lock_timeout)',
  '57P01': 'the database is shutting down',
  '57P02': 'the database crashed',
  '57P03': 'the database is starting up',
  '53300': 'the database has too many connections',
  '25006': 'the database is read-only (a standby after failover?)',
  '40P01': 'a database deadlock aborted the statement (retrying is safe: nothing was written)',
  '40001': 'a database serialization failure aborted the statement (retrying is safe)',
};

function reasonOf(error: unknown): string | undefined {
  if (!error || typeof error !== 'object') return undefined;
  const { code, name } = error as { code?: unknown; name?: unknown };
  if (typeof code !== 'string') return undefined;
  if (name === 'PostgresError') {
    if (code in SQLSTATES) return SQLSTATES[code];
    // Class 08 (connection exception) and 53 (insufficient resources).
    if (code.startsWith('08')) return 'the database connection failed';
    if (code.startsWith('53')) return 'the database is out of resources';
    return undefined;
  }
  if (code in CLIENT_CODES) return CLIENT_CODES[code];
  // postgres.js marks the errors it rejects a query with by a `query` property.
  if (SOCKET_CODES.has(code) && 'query' in error) return `the database is unreachable (${code})`;
  return undefined;
}

/** Why the database cannot serve now, when `error` (or one of its causes) says so; else undefined. */
export function databaseUnavailable(error: unknown): string | undefined {
  let current = error;
  for (let depth = 0; depth < 5 && current; depth += 1) {
    const reason = reasonOf(current);
    if (reason) return reason;
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}

/**
 * SQLSTATEs of text the database cannot hold (a NUL character, bytes that are not UTF-8): the
 * request carried it, so it is the request that is malformed, not the server.
 */
const UNSTORABLE_TEXT = new Set(['22021', '22P05']);

/** Whether `error` is the database refusing text the request carried (answered 400, not 500). */
export function unstorableText(error: unknown): boolean {
  if (!error || typeof error !== 'object') return false;
  const { code, name } = error as { code?: unknown; name?: unknown };
  return name === 'PostgresError' && typeof code === 'string' && UNSTORABLE_TEXT.has(code);
}
