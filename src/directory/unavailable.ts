// "The directory cannot answer now": what logins turn into "directory unavailable, try again",
// with the kind of failure the operator should look at (ldap-check prints it, the log says it).
import { ResultCodeError } from 'ldapts';

export type UnavailableKind = 'unreachable' | 'tls' | 'service_bind' | 'timeout' | 'busy' | 'error';

export class DirectoryUnavailableError extends Error {
  override readonly name = 'DirectoryUnavailableError';
  constructor(
    readonly kind: UnavailableKind,
    message: string,
  ) {
    super(message);
  }
}

export const INVALID_CREDENTIALS = 49;
export const NO_SUCH_OBJECT = 32;

// LDAP result codes of a server that cannot answer now (RFC 4511 appendix A): timeLimitExceeded,
// adminLimitExceeded, busy, unavailable, other.
const TRANSIENT_RESULT_CODES = new Set([3, 11, 51, 52, 80]);

/** An LDAP result that means "not now" rather than "no". */
export function isTransient(err: ResultCodeError): boolean {
  return TRANSIENT_RESULT_CODES.has(err.code);
}

/** A failure of the connection itself (anything but an LDAP result), as the kind the operator should look at. */
export function connectionFailure(err: unknown, what: string): DirectoryUnavailableError {
  if (err instanceof DirectoryUnavailableError) return err;
  const code = (err as { code?: unknown }).code;
  const message = err instanceof Error ? err.message : String(err);
  if (typeof code === 'string' && /CERT|SELF_SIGNED|TLS|SSL|HOSTNAME|ALTNAME/i.test(code)) return new DirectoryUnavailableError('tls', `${what}: certificate not trusted (${message})`);
  if (/timed? ?out/i.test(message)) return new DirectoryUnavailableError('timeout', `${what}: ${message}`);
  return new DirectoryUnavailableError('unreachable', `${what}: ${message}`);
}
