// One way for a route to fail on purpose: throw a RouteError. The router that catches it decides the
// protocol of the answer (an HTML page, Matrix JSON or OAuth JSON), so the code that finds the
// problem does not need to know who is asking. Anything that is not a RouteError is a bug or an
// outage and goes on to Express's error handler untouched.
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { englishText, type Message } from './i18n.js';
import type { Renderer } from './render.js';

/** What a person reads: a Message, translated on the page (English in JSON), or fixed text. */
export type ErrorText = string | Message;

export interface RouteErrorOptions {
  /** The heading of the error page. */
  title?: ErrorText;
  /** Where the error page sends the user next. */
  link?: { href: string; label: ErrorText };
  /** Sent as `Retry-After`. */
  retryAfterSeconds?: number;
  headers?: Record<string, string>;
  /** The Matrix `errcode` a Matrix client sees; `M_UNKNOWN` when not given. */
  errcode?: string;
  /** Extra fields of a JSON answer, after the standard ones (e.g. Matrix `soft_logout`). */
  fields?: Record<string, unknown>;
}

export class RouteError extends Error {
  readonly title?: ErrorText;
  readonly link?: { href: string; label: ErrorText };
  /** The message as the error page shows it, in the reader's language; `message` is its English. */
  readonly text: ErrorText;
  readonly retryAfterSeconds?: number;
  readonly headers: Record<string, string>;
  readonly errcode: string;
  readonly fields: Record<string, unknown>;

  /**
   * @param status the HTTP status
   * @param code a stable machine code (shown on pages, the OAuth `error`), never reworded
   * @param message for the human reading it
   */
  constructor(
    readonly status: number,
    readonly code: string,
    message: ErrorText,
    options: RouteErrorOptions = {},
  ) {
    super(englishText(message));
    this.text = message;
    this.name = 'RouteError';
    this.title = options.title;
    this.link = options.link;
    this.retryAfterSeconds = options.retryAfterSeconds;
    this.headers = options.headers ?? {};
    this.errcode = options.errcode ?? 'M_UNKNOWN';
    this.fields = options.fields ?? {};
  }
}

/** Sends a RouteError in one protocol. */
export type ErrorFormat = (res: Response, err: RouteError) => void;

function setHeaders(res: Response, err: RouteError): void {
  res.set(err.headers);
  if (err.retryAfterSeconds !== undefined) res.set('Retry-After', String(err.retryAfterSeconds));
}

/** The `error` page of the browser views. */
export function asPage(renderer: Renderer): ErrorFormat {
  return (res, err) => {
    setHeaders(res, err);
    renderer.send(res, err.status, 'error', { title: err.title, message: err.text, code: err.code, link: err.link });
  };
}

/** The Matrix client-server API error body, `{ errcode, error }`. */
export const asMatrix: ErrorFormat = (res, err) => {
  setHeaders(res, err);
  res.status(err.status).json({ errcode: err.errcode, error: err.message, ...err.fields });
};

/** The OAuth 2.0 error body, `{ error, error_description }` (RFC 6749 §5.2), never cached. */
export const asOAuth: ErrorFormat = (res, err) => {
  setHeaders(res, err);
  res.status(err.status).set('Cache-Control', 'no-store').json({ error: err.code, error_description: err.message, ...err.fields });
};

/** An async route whose RouteErrors are answered in `format`; anything else goes to next(err). */
export function routeHandler(format: ErrorFormat, fn: (req: Request, res: Response) => Promise<void>): RequestHandler {
  return (req: Request, res: Response, next: NextFunction) => {
    fn(req, res).catch((err: unknown) => (err instanceof RouteError ? format(res, err) : next(err)));
  };
}
