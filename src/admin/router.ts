// The `adminapi` resource: the admin API under /api/admin/v1, its OpenAPI document at
// /api/spec.json and Swagger UI at /api/doc/. Every answer under /api/ is JSON in MAS's error
// shape when it is an error, including unknown paths, bad bodies and an unavailable database.
import express, { type ErrorRequestHandler, type Request, type RequestHandler, type Response, type Router } from 'express';
import { authenticate } from './auth.js';
import { AdminError, unavailableSource } from './errors.js';
import { buildOpenApi } from './openapi.js';
import { readQuery, validated, type AdminDeps, type AdminRoute } from './route.js';
import { ADMIN_ROUTES, API_PREFIX } from './routes.js';
import { swaggerRouter } from './swagger.js';
import { RETRY_AFTER_SECONDS } from '../storage/db-errors.js';
import { PasswordCheckAbandoned, PasswordsBusy } from '../accounts/hash-pool.js';

const BODY_LIMIT = '1mb';

function sendError(res: Response, error: AdminError): void {
  res.status(error.status).set({ 'Cache-Control': 'no-store', ...error.headers }).json({ errors: [{ title: error.title }] });
}

/** Express path syntax for an OpenAPI path. */
function expressPath(path: string): string {
  return path.replace(/\{(\w+)\}/g, ':$1');
}

function pathPattern(path: string): RegExp {
  return new RegExp(`^${path.replace(/\{\w+\}/g, '[^/]+')}/?$`);
}

/** PostgreSQL stores no NUL character in text or JSON: such input is refused before it gets there. */
function containsNul(value: unknown, depth = 0): boolean {
  if (typeof value === 'string') return value.includes('\u0000');
  if (value === null || typeof value !== 'object') return false;
  if (depth > 64) throw new AdminError(400, 'The input is nested too deeply');
  for (const [key, item] of Object.entries(value)) if (key.includes('\u0000') || containsNul(item, depth + 1)) return true;
  return false;
}

function refuseNul(value: unknown, where: string): void {
  if (containsNul(value)) throw new AdminError(400, `Invalid ${where}: NUL characters are not allowed`);
}

function handle(deps: AdminDeps, route: AdminRoute): RequestHandler {
  return async (req, res, next) => {
    try {
      // The caller first: without a valid admin token nothing else is looked at (as MAS).
      const caller = await authenticate(deps.app, req.headers.authorization);
      const search = new URL(req.originalUrl, 'http://placeholder').searchParams;
      refuseNul(req.params, 'path parameter');
      refuseNul([...search.values()], 'query parameter');
      refuseNul(req.body, 'body');
      const params = validated(route.checks.params!, { ...req.params }, 'path parameter');
      const query = validated(route.checks.query!, readQuery(route.query, search), 'query parameter');
      let body: unknown;
      if (route.checks.body) {
        if (req.body === undefined && route.bodyRequired !== false) throw new AdminError(400, 'A JSON body is required');
        body = validated(route.checks.body, req.body ?? {}, 'body');
      }
      const reply = await route.handler({ deps, app: deps.app, caller, search }, { params, query, body });
      res.set('Cache-Control', 'no-store');
      if (reply.body === undefined) res.status(reply.status).end();
      else res.status(reply.status).json(reply.body);
    } catch (err) {
      next(err);
    }
  };
}

/** MAS allows any origin: the API takes bearer tokens only, never cookies. */
const cors: RequestHandler = (req, res, next) => {
  res.set('Access-Control-Allow-Origin', '*');
  if (req.method !== 'OPTIONS') return next();
  res
    .status(204)
    .set({
      'Access-Control-Allow-Methods': 'GET, POST, PUT, DELETE, OPTIONS',
      'Access-Control-Allow-Headers': 'Authorization, Accept, Content-Type, X-Requested-With',
      'Access-Control-Max-Age': '3600',
    })
    .end();
};

export function adminRouter(deps: AdminDeps): Router {
  const { app } = deps;
  const router = express.Router();
  router.use('/api', cors);

  const spec = buildOpenApi(ADMIN_ROUTES, app.config.http.public_base);
  router.get('/api/spec.json', (_req, res) => {
    res.set('Cache-Control', 'no-cache').json(spec);
  });
  router.use('/api/doc', swaggerRouter());

  const v1 = express.Router();
  v1.use(express.json({ limit: BODY_LIMIT, type: () => true }));
  for (const route of ADMIN_ROUTES) v1[route.method](expressPath(route.path), handle(deps, route));
  const patterns = ADMIN_ROUTES.map((r) => ({ pattern: pathPattern(r.path), method: r.method.toUpperCase() }));
  v1.use((req: Request, res: Response) => {
    const allowed = [...new Set(patterns.filter((p) => p.pattern.test(req.path)).map((p) => p.method))];
    if (allowed.length) sendError(res, new AdminError(405, `Method ${req.method} not allowed here`, { Allow: allowed.join(', ') }));
    else sendError(res, new AdminError(404, 'Not found'));
  });
  router.use(API_PREFIX, v1);

  router.use('/api', (_req: Request, res: Response) => sendError(res, new AdminError(404, 'Not found')));

  const onError: ErrorRequestHandler = (err, req, res, _next) => {
    // The client left, or the deadline answered, while the request waited for the password pool.
    if (res.headersSent || err instanceof PasswordCheckAbandoned) return;
    if (err instanceof AdminError) return sendError(res, err);
    // The password pool's queue is full (accounts/hash-pool.ts): try again shortly.
    if (err instanceof PasswordsBusy) {
      return sendError(res, new AdminError(429, 'Too many passwords are being hashed right now; try again shortly', { 'Retry-After': String(Math.ceil(err.retryAfterMs / 1000)) }));
    }
    const unavailable = unavailableSource(err);
    if (unavailable) {
      app.log.warn({ reason: unavailable.reason, request_id: res.locals.requestId, path: req.path }, `${unavailable.source} unavailable: answered 503`);
      res.set('Retry-After', String(RETRY_AFTER_SECONDS));
      return sendError(res, new AdminError(503, unavailable.source === 'homeserver' ? 'The homeserver could not be reached; try again' : 'The service is temporarily unavailable; try again shortly'));
    }
    // body-parser: malformed JSON (400), too large (413); the router: an undecodable path (400).
    const status = typeof err?.status === 'number' && err.status >= 400 && err.status < 500 ? err.status : 500;
    if (status === 413) return sendError(res, new AdminError(413, 'The request body is too large'));
    if (status < 500) return sendError(res, new AdminError(status, err?.type === 'entity.parse.failed' ? 'The request body is not valid JSON' : 'The request is malformed'));
    app.log.error({ err, request_id: res.locals.requestId, path: req.path }, 'admin API: unhandled error');
    sendError(res, new AdminError(500, 'Internal error'));
  };
  router.use('/api', onError);
  return router;
}
