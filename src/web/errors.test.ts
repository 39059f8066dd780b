import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import express, { type NextFunction, type Request, type Response } from 'express';
import type { Config } from '../config/types.js';
import { RouteError, asMatrix, asOAuth, asPage, routeHandler, type ErrorFormat } from './errors.js';
import { createRenderer } from './render.js';

const renderer = createRenderer({
  templates: {},
  branding: { service_name: 'Test' },
  matrix: { homeserver: 'example.org' },
  email: { transport: 'smtp' },
} as unknown as Config);

const limited = () =>
  new RouteError(429, 'rate_limited', 'Too many attempts.', {
    title: 'Slow down',
    link: { href: '/start', label: 'Start again' },
    retryAfterSeconds: 2,
    headers: { 'X-Reason': 'test' },
    errcode: 'M_LIMIT_EXCEEDED',
    fields: { retry_after_ms: 1500 },
  });

describe('RouteError rendering', () => {
  let base = '';
  let server: ReturnType<ReturnType<typeof express>['listen']>;
  before(async () => {
    const app = express();
    const route = (format: ErrorFormat, err: () => Error) =>
      routeHandler(format, async () => {
        throw err();
      });
    app.get('/page', route(asPage(renderer), limited));
    app.get('/matrix', route(asMatrix, limited));
    app.get('/matrix-default', route(asMatrix, () => new RouteError(400, 'bad', 'Bad.')));
    app.get('/oauth', route(asOAuth, () => new RouteError(400, 'invalid_request', "Missing 'code'.")));
    app.get('/bug', route(asMatrix, () => new Error('boom')));
    app.use((err: Error, _req: Request, res: Response, _next: NextFunction) => {
      res.status(500).send(`handler saw ${err.message}`);
    });
    server = app.listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it('renders the error page with title, message, code, link and headers', async () => {
    const res = await fetch(`${base}/page`);
    assert.equal(res.status, 429);
    assert.match(res.headers.get('content-type') ?? '', /^text\/html/);
    assert.equal(res.headers.get('cache-control'), 'no-store');
    assert.equal(res.headers.get('retry-after'), '2');
    assert.equal(res.headers.get('x-reason'), 'test');
    const html = await res.text();
    assert.match(html, /<h1>Slow down<\/h1>/);
    assert.match(html, /Too many attempts\./);
    assert.match(html, /<code>rate_limited<\/code>/);
    assert.match(html, /<a href="\/start">Start again<\/a>/);
  });

  it('renders Matrix JSON: errcode, error, then the extra fields', async () => {
    const res = await fetch(`${base}/matrix`);
    assert.equal(res.status, 429);
    assert.equal(res.headers.get('retry-after'), '2');
    assert.equal(await res.text(), '{"errcode":"M_LIMIT_EXCEEDED","error":"Too many attempts.","retry_after_ms":1500}');
    const plain = await fetch(`${base}/matrix-default`);
    assert.equal(plain.status, 400);
    assert.deepEqual(await plain.json(), { errcode: 'M_UNKNOWN', error: 'Bad.' });
  });

  it('renders OAuth JSON with the machine code as error, never cached', async () => {
    const res = await fetch(`${base}/oauth`);
    assert.equal(res.status, 400);
    assert.equal(res.headers.get('cache-control'), 'no-store');
    assert.equal(await res.text(), '{"error":"invalid_request","error_description":"Missing \'code\'."}');
  });

  it('passes anything that is not a RouteError to the error handler', async () => {
    const res = await fetch(`${base}/bug`);
    assert.equal(res.status, 500);
    assert.equal(await res.text(), 'handler saw boom');
  });
});
