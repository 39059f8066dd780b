// Browser forms: every POST from one of our pages carries the CSRF token of its page, checked
// against the signed cookie before the handler runs. A form without a valid token (expired
// cookie, another site posting) gets one "form expired" page, written here only.
import express, { type RequestHandler } from 'express';
import { csrfValid } from './browser.js';
import { msg } from './i18n.js';
import type { Renderer } from './render.js';

/** The body of a browser form: URL-encoded, small. */
export const formBody: RequestHandler = express.urlencoded({ extended: false, limit: '64kb' });

export function requireCsrf(renderer: Renderer): RequestHandler {
  return (req, res, next) => {
    if (csrfValid(req)) return next();
    renderer.send(res, 403, 'error', { message: msg('errors.form_expired'), code: 'csrf' });
  };
}

/** What goes before every form handler: parse the body, then check its CSRF token. */
export function csrfForm(renderer: Renderer): RequestHandler {
  const check = requireCsrf(renderer);
  return (req, res, next) => formBody(req, res, (err?: unknown) => (err ? next(err) : check(req, res, next)));
}
