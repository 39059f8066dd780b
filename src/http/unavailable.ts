// "Try again shortly" answers: 503 with Retry-After, in the protocol of the endpoint that was
// called (OAuth error JSON, Matrix errcode JSON, or an HTML page), for a database that is down,
// stalled or saturated, for a homeserver that cannot be reached (as the token endpoint answers
// in oidc/token-hooks.ts), and for requests that outlive `database.request_deadline`. And 429 with
// Retry-After when the password pool's queue is full (busyAnswer).
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { PasswordsBusy, whileRequestLasts } from '../accounts/hash-pool.js';
import { HomeserverError } from '../homeserver/index.js';
import { databaseUnavailable, RETRY_AFTER_SECONDS } from '../storage/db-errors.js';
import { msg } from '../web/i18n.js';
import type { Renderer } from '../web/render.js';
import { loggedPath } from './observability.js';

/** What these answers need of the page renderer. */
type PageRenderer = Pick<Renderer, 'render'>;

export type ErrorFormat = 'oauth' | 'matrix' | 'html' | 'admin';

/** Which protocol an error should be reported in, from the request path. */
export function errorFormat(path: string): ErrorFormat {
  if (path.startsWith('/oauth2/') || path.startsWith('/.well-known/') || path === '/health') return 'oauth';
  if (path.startsWith('/_matrix/') || path.startsWith('/_synapse/client/rendezvous/')) return 'matrix';
  // The admin API's shape: {errors: [{title}]}.
  if (path.startsWith('/api/')) return 'admin';
  return 'html';
}

/** What is missing: the answer names it, so that a client (and its user) knows what to wait for. */
export type UnavailableSource = 'database' | 'homeserver';

const MESSAGES: Record<UnavailableSource, string> = {
  database: 'The service is temporarily unavailable; try again shortly.',
  homeserver: 'the homeserver could not be reached; try again',
};

/** Why an error means "try again shortly" rather than a bug, or undefined. */
export function unavailableCause(error: unknown): { source: UnavailableSource; reason: string } | undefined {
  const reason = databaseUnavailable(error);
  if (reason) return { source: 'database', reason };
  let current = error;
  for (let depth = 0; depth < 5 && current; depth += 1) {
    // Any failed call, not only a refused connection: the step cannot go on without the
    // homeserver, and the operator finds its answer in the log.
    if (current instanceof HomeserverError) return { source: 'homeserver', reason: current.message };
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}

export interface UnavailableAnswer {
  status: 503;
  headers: Record<string, string>;
  contentType: 'json' | 'html';
  body: string;
}

/** `request` chooses the language of the HTML page. */
export function unavailableAnswer(format: ErrorFormat, renderer: PageRenderer, source: UnavailableSource = 'database', request?: IncomingMessage): UnavailableAnswer {
  const headers = { 'Retry-After': String(RETRY_AFTER_SECONDS), 'Cache-Control': 'no-store' };
  const message = MESSAGES[source];
  if (format === 'oauth') {
    return { status: 503, headers, contentType: 'json', body: JSON.stringify({ error: 'temporarily_unavailable', error_description: message }) };
  }
  if (format === 'matrix') return { status: 503, headers, contentType: 'json', body: JSON.stringify({ errcode: 'M_UNKNOWN', error: message }) };
  if (format === 'admin') return { status: 503, headers, contentType: 'json', body: JSON.stringify({ errors: [{ title: message }] }) };
  const page = msg(source === 'homeserver' ? 'errors.homeserver_unavailable' : 'errors.unavailable');
  const body = renderer.render('error', { title: msg('errors.unavailable_title'), message: page, code: 'temporarily_unavailable' }, request);
  return { status: 503, headers, contentType: 'html', body };
}

export interface BusyAnswer {
  status: 429;
  headers: Record<string, string>;
  contentType: 'json' | 'html';
  body: string;
}

const BUSY_MESSAGE = 'Too many passwords are being checked right now; try again shortly.';

/**
 * The password pool is full (accounts/hash-pool.ts): 429 with Retry-After, in the endpoint's
 * protocol; a Matrix client gets `M_LIMIT_EXCEEDED` with `retry_after_ms`, as for a rate limit.
 */
export function busyAnswer(format: ErrorFormat, renderer: PageRenderer, busy: PasswordsBusy, request?: IncomingMessage): BusyAnswer {
  const seconds = Math.ceil(busy.retryAfterMs / 1000);
  const headers = { 'Retry-After': String(seconds), 'Cache-Control': 'no-store' };
  if (format === 'oauth') {
    return { status: 429, headers, contentType: 'json', body: JSON.stringify({ error: 'temporarily_unavailable', error_description: BUSY_MESSAGE }) };
  }
  if (format === 'matrix') {
    return { status: 429, headers, contentType: 'json', body: JSON.stringify({ errcode: 'M_LIMIT_EXCEEDED', error: BUSY_MESSAGE, retry_after_ms: busy.retryAfterMs }) };
  }
  if (format === 'admin') return { status: 429, headers, contentType: 'json', body: JSON.stringify({ errors: [{ title: BUSY_MESSAGE }] }) };
  const page = msg('errors.passwords_busy', { seconds });
  const body = renderer.render('error', { title: msg('errors.passwords_busy_title'), message: page, code: 'too_busy' }, request);
  return { status: 429, headers, contentType: 'html', body };
}

/** Writes the 503 for `req`'s path on a raw node:http response. */
export function sendUnavailable(req: IncomingMessage, res: ServerResponse, renderer: PageRenderer): void {
  const answer = unavailableAnswer(errorFormat((req.url ?? '/').split('?')[0] ?? '/'), renderer, 'database', req);
  res.writeHead(answer.status, {
    ...answer.headers,
    'Content-Type': answer.contentType === 'json' ? 'application/json; charset=utf-8' : 'text/html; charset=utf-8',
    'Content-Length': Buffer.byteLength(answer.body),
  });
  res.end(answer.body);
}

/**
 * Once the deadline has answered, whatever the handler still does must not reach the client
 * (nor throw "headers already sent" from deep inside Express, Koa or a promise chain): its
 * writes on this response become no-ops. Its database work is bounded by statement_timeout.
 */
function silence(res: ServerResponse): void {
  const quiet = res as unknown as Record<string, unknown>;
  for (const method of ['writeHead', 'setHeader', 'appendHeader', 'removeHeader', 'flushHeaders', 'writeContinue', 'writeProcessing']) {
    quiet[method] = () => res;
  }
  quiet.write = () => true;
  quiet.end = (...args: unknown[]) => {
    const callback = args.find((arg) => typeof arg === 'function') as (() => void) | undefined;
    callback?.();
    return res;
  };
}

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

/**
 * Answers 503 for a request still unanswered after `seconds`: postgres.js queues queries while
 * every connection is busy and has no acquire timeout, so without this a stalled database
 * would hold every client (and the reverse proxy's workers) for as long as it stalls.
 * A request answered so, or whose client left before its answer, gives up its place in the
 * password pool's queue (accounts/hash-pool.ts), with or without a deadline.
 */
export function withDeadline(handler: Handler, options: { seconds: number; renderer: PageRenderer; log: Logger }): Handler {
  const ms = options.seconds * 1000;
  return (req, res) => {
    const gone = new AbortController();
    const timer =
      ms > 0
        ? setTimeout(() => {
            if (res.headersSent || res.writableEnded) return;
            options.log.warn({ request_id: res.getHeader('X-Request-Id'), method: req.method, path: loggedPath((req.url ?? '/').split('?')[0] ?? '/'), seconds: options.seconds }, 'request deadline passed: answered 503');
            sendUnavailable(req, res, options.renderer);
            silence(res);
            gone.abort();
          }, ms)
        : undefined;
    res.once('close', () => {
      clearTimeout(timer);
      if (!res.writableFinished) gone.abort();
    });
    whileRequestLasts(gone.signal, () => handler(req, res));
  };
}
