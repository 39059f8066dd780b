// The `rendezvous` listener resource: MSC4108 and MSC4388 served from the database, for
// homeservers whose own rendezvous is off (Synapse keeps its sessions in one process's memory).
// Browser clients call it from another origin, so every answer carries Synapse's CORS headers and
// preflights are answered here, ahead of the CORS of the OAuth 2.0 routes (http/cors.ts).
import express, { type ErrorRequestHandler, type RequestHandler, type Router } from 'express';
import type { AppContext } from '../context.js';
import { asMatrix } from '../web/errors.js';
import { MSC4108_CREATE, MSC4108_SESSIONS, msc4108Headers, msc4108Router } from './msc4108.js';
import { MSC4388_PATH, msc4388Headers, msc4388Router } from './msc4388.js';
import { matrixError } from './sessions.js';

const METHODS = 'GET, HEAD, POST, PUT, DELETE, OPTIONS';

function preflight(allowHeaders: string): RequestHandler {
  return (req, res, next) => {
    if (req.method !== 'OPTIONS') return next();
    res.status(204).set({
      'Access-Control-Allow-Methods': METHODS,
      'Access-Control-Allow-Headers': allowHeaders,
      'Access-Control-Max-Age': '86400',
    });
    res.end();
  };
}

/** A known path with a method it does not serve, or a path under the prefixes that names nothing. */
const unrecognized: RequestHandler = (req, res) => {
  const known = req.route !== undefined;
  asMatrix(res, matrixError(known ? 405 : 400, 'M_UNRECOGNIZED', 'Unrecognized request'));
};

/** Body errors of the raw parser (too large, aborted, bad encoding) in Matrix form; anything else goes on. */
const bodyErrors: ErrorRequestHandler = (err, _req, res, next) => {
  const status = typeof err?.status === 'number' ? err.status : 500;
  if (typeof err?.type !== 'string' || status < 400 || status >= 500) return next(err);
  asMatrix(res, status === 413 ? matrixError(413, 'M_TOO_LARGE', 'Payload too large') : matrixError(status, 'M_INVALID_PARAM', 'The request body could not be read'));
};

export function rendezvousRouter(ctx: AppContext): Router {
  const router = express.Router();
  const msc4108 = [msc4108Headers, preflight('Content-Type, If-Match, If-None-Match')];
  router.use(MSC4108_CREATE, ...msc4108);
  router.use(MSC4108_SESSIONS, ...msc4108);
  router.use(MSC4388_PATH, msc4388Headers, preflight('X-Requested-With, Content-Type, Authorization, Date'));
  router.use(msc4108Router(ctx));
  router.use(msc4388Router(ctx));
  for (const path of [MSC4108_CREATE, `${MSC4108_SESSIONS}/:id`, MSC4388_PATH, `${MSC4388_PATH}/:id`]) router.all(path, unrecognized);
  for (const prefix of [MSC4108_CREATE, MSC4108_SESSIONS, MSC4388_PATH]) router.use(prefix, unrecognized);
  router.use(bodyErrors);
  return router;
}
