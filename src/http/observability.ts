// Request ids, structured access logs (no query strings: they carry codes and tokens) and
// Prometheus metrics by route.
import { randomUUID } from 'node:crypto';
import type { NextFunction, Request, Response } from 'express';
import type { Logger } from 'pino';
import client from 'prom-client';

export interface Metrics {
  registry: client.Registry;
  requests: client.Counter<'method' | 'route' | 'status'>;
  duration: client.Histogram<'method' | 'route'>;
}

export function createMetrics(registry = new client.Registry()): Metrics {
  client.collectDefaultMetrics({ register: registry });
  return {
    registry,
    requests: new client.Counter({
      name: 'mauth_http_requests_total',
      help: 'HTTP requests by route and status',
      labelNames: ['method', 'route', 'status'],
      registers: [registry],
    }),
    duration: new client.Histogram({
      name: 'mauth_http_request_duration_seconds',
      help: 'HTTP request latency by route',
      labelNames: ['method', 'route'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [registry],
    }),
  };
}

const KNOWN_ROUTES: [RegExp, string][] = [
  [/^\/\.well-known\//, '/.well-known/*'],
  [/^\/oauth2\/[a-z_.]+$/, ''],
  [/^\/authorize$/, '/authorize'],
  [/^\/interaction\//, '/interaction/:uid'],
  [/^\/account\//, '/account/*'],
  [/^\/assets\//, '/assets/*'],
  [/^\/_matrix\/client\//, '/_matrix/client/*'],
  [/^\/_synapse\/client\/rendezvous\//, '/_synapse/client/rendezvous/:id'],
  [/^\/api\/admin\//, '/api/admin/*'],
];

/** A bounded route label: unknown paths must not explode the metric's cardinality. */
export function routeLabel(path: string): string {
  for (const [re, label] of KNOWN_ROUTES) if (re.test(path)) return label || path;
  return ['/health', '/metrics', '/login', '/logout', '/account'].includes(path) ? path : 'other';
}

/**
 * The path as logged: a rendezvous session's id is the only credential its URL needs, and a
 * device sign-in request's id (/device/<id>) is worth its user code to whoever reads it. Express
 * matches paths whatever their case, so the patterns ignore case too.
 */
export function loggedPath(path: string): string {
  return path
    .replace(/^(\/_synapse\/client\/rendezvous\/|\/_matrix\/client\/unstable\/io\.element\.msc4388\/rendezvous\/)[^/]+/i, '$1…')
    .replace(/^(\/device\/)[^/]+/i, '$1…');
}

export function observe(log: Logger, metrics: Metrics) {
  return function requestObserver(req: Request, res: Response, next: NextFunction): void {
    const start = process.hrtime.bigint();
    const id = (req.get('x-request-id') ?? '').slice(0, 64) || randomUUID();
    res.setHeader('X-Request-Id', id);
    res.locals.requestId = id;
    res.on('finish', () => {
      const seconds = Number(process.hrtime.bigint() - start) / 1e9;
      const route = routeLabel(req.path);
      metrics.requests.inc({ method: req.method, route, status: String(res.statusCode) });
      metrics.duration.observe({ method: req.method, route }, seconds);
      if (res.statusCode < 500 && !log.isLevelEnabled('debug')) return;
      const entry = { request_id: id, method: req.method, path: loggedPath(req.path), status: res.statusCode, ms: Math.round(seconds * 1000), ip: req.ip };
      if (res.statusCode >= 500) log.error(entry, 'request failed');
      else log.debug(entry, 'request');
    });
    next();
  };
}
