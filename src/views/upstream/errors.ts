// The ways the upstream sign-in fails that more than one step shares: each a RouteError (web/errors.ts)
// that stops the sign-in with an error page, its status and code saying why.
import type { Logger } from 'pino';
import { RETRY_AFTER_SECONDS } from '../../storage/db-errors.js';
import { isUnavailable } from '../../upstream/unavailable.js';
import { RouteError } from '../../web/errors.js';
import { msg } from '../../web/i18n.js';

export function misconfigured(): RouteError {
  return new RouteError(500, 'provider_misconfigured', msg('errors.upstream.misconfigured'), { title: msg('errors.upstream.misconfigured_title') });
}

export function sessionUsed(): RouteError {
  return new RouteError(400, 'upstream_session_used', msg('errors.upstream.already_used'), { title: msg('errors.upstream.cannot_complete_title') });
}

/** A homeserver outage is "try again shortly", as everywhere else (http/unavailable.ts): 503 with Retry-After. */
export function homeserverUnavailable(log: Logger, err: unknown): RouteError {
  log.warn({ err }, 'homeserver unreachable while checking a username');
  return new RouteError(503, 'homeserver_unavailable', msg('errors.upstream.homeserver'), {
    title: msg('errors.upstream.homeserver_title'),
    retryAfterSeconds: RETRY_AFTER_SECONDS,
    headers: { 'Cache-Control': 'no-store' },
  });
}

/** An error of the provider round trip, logged for the operator, shown plainly to the user. */
export function upstreamFailure(log: Logger, err: unknown, providerId: string, stage: string): RouteError {
  const e = err as { code?: string; error?: string; error_description?: string; message?: string };
  if (isUnavailable(err)) {
    log.warn({ upstream_provider_id: providerId, stage, error: e.message, code: e.code }, 'upstream provider unreachable');
    return new RouteError(502, 'upstream_unavailable', msg('errors.upstream.unreachable'), { title: msg('errors.upstream.unreachable_title') });
  }
  log.warn({ upstream_provider_id: providerId, stage, error: e.message, code: e.code, oauth_error: e.error, oauth_error_description: e.error_description }, 'upstream sign-in rejected');
  return new RouteError(400, 'upstream_response_invalid', msg('errors.upstream.not_verified'), { title: msg('errors.upstream.failed_title') });
}
