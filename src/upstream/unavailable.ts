// Telling "the provider is down" (a 502 for the user, retry later) from "the provider said no"
// (a 400, start again) across openid-client's, jose's and fetch's errors.
import * as oidc from 'openid-client';

/** The provider cannot be reached, or answered with a server error. */
export class UpstreamUnavailable extends Error {
  override readonly name = 'UpstreamUnavailable';
}

/** Whether an error means the provider is down or unreachable rather than that it said no. */
export function isUnavailable(err: unknown): boolean {
  if (err instanceof UpstreamUnavailable) return true;
  const e = err as { name?: string; message?: string; status?: number; cause?: unknown };
  if (e?.name === 'TimeoutError' || e?.name === 'AbortError') return true;
  if (e?.name === 'TypeError' && /fetch failed/i.test(e.message ?? '')) return true;
  if (err instanceof oidc.ResponseBodyError) return err.status >= 500;
  if (typeof e?.status === 'number' && e.status >= 500) return true;
  if (e?.cause && e.cause !== err) return isUnavailable(e.cause);
  return false;
}
