// "Try again shortly" answers: 503 with Retry-After, in the protocol of the endpoint that was
// called (OAuth error JSON, Matrix errcode JSON, or an HTML page), for a database that is down,
// stalled or saturated, and for requests that outlive `database.request_deadline`.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { RETRY_AFTER_SECONDS } from '../storage/db-errors.js';
import type { Renderer } from '../web/render.js';

export type ErrorFormat = 'oauth' | 'matrix' | 'html';

/** Which protocol an error should be reported in, from the request path. */
export function errorFormat(path: string): ErrorFormat {
  if (path.startsWith('/oauth2/') || path.startsWith('/.well-known/') || path === '/health') return 'oauth';
  if (path.startsWith('/_matrix/')) return 'matrix';
  return 'html';
}

const MESSAGE = 'The service is temporarily unavailable; try again shortly.';

export interface UnavailableAnswer {
  status: 503;
  headers: Record<string, string>;
  contentType: 'json' | 'html';
  body: string;
}

export function unavailableAnswer(format: ErrorFormat, renderer: Renderer): UnavailableAnswer {
  const headers = { 'Retry-After': String(RETRY_AFTER_SECONDS), 'Cache-Control': 'no-store' };
  if (format === 'oauth') {
    return { status: 503, headers, contentType: 'json', body: JSON.stringify({ error: 'temporarily_unavailable', error_description: MESSAGE }) };
  }
  if (format === 'matrix') return { status: 503, headers, contentType: 'json', body: JSON.stringify({ errcode: 'M_UNKNOWN', error: MESSAGE }) };
  return { status: 503, headers, contentType: 'html', body: renderer.render('error', { title: 'Temporarily unavailable', message: MESSAGE, code: 'temporarily_unavailable' }) };
}

/** Writes the 503 for `req`'s path on a raw node:http response. */
export function sendUnavailable(req: IncomingMessage, res: ServerResponse, renderer: Renderer): void {
  const answer = unavailableAnswer(errorFormat((req.url ?? '/').split('?')[0] ?? '/'), renderer);
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
 */
export function withDeadline(handler: Handler, options: { seconds: number; renderer: Renderer; log: Logger }): Handler {
  if (options.seconds <= 0) return handler;
  const ms = options.seconds * 1000;
  return (req, res) => {
    const timer = setTimeout(() => {
      if (res.headersSent || res.writableEnded) return;
      options.log.warn({ request_id: res.getHeader('X-Request-Id'), method: req.method, path: (req.url ?? '/').split('?')[0], seconds: options.seconds }, 'request deadline passed: answered 503');
      sendUnavailable(req, res, options.renderer);
      silence(res);
    }, ms);
    res.once('close', () => clearTimeout(timer));
    handler(req, res);
  };
}
