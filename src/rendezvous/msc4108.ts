// MSC4108 (2024), as Synapse's `experimental_features.msc4108_enabled` serves it: a text/plain
// mailbox created by POST, then read with GET (If-None-Match → 304) and replaced with PUT (If-Match
// required; a stale one gets 412) at `<public_base>_synapse/client/rendezvous/<ULID>`, for 60 s.
import express, { type Request, type RequestHandler, type Response, type Router } from 'express';
import type { AppContext } from '../context.js';
import { deleteSession, findLiveSession, replaceIfCurrent, type RendezvousSession } from '../storage/rendezvous.js';
import { asMatrix, routeHandler } from '../web/errors.js';
import { etagOf, ifMatchVersions, noneMatchHolds, parseEntityTags, quoted, type EntityTagList } from './conditions.js';
import { MAX_DATA_BYTES, matrixError, notFound, openSession, sessionKey } from './sessions.js';

export const MSC4108_CREATE = '/_matrix/client/unstable/org.matrix.msc4108/rendezvous';
export const MSC4108_SESSIONS = '/_synapse/client/rendezvous';

/** On every answer of these paths, errors included (Synapse's, but for its trace headers). */
export const msc4108Headers: RequestHandler = (_req, res, next) => {
  res.set({
    'Access-Control-Allow-Origin': '*',
    'Access-Control-Expose-Headers': 'etag',
    'Cache-Control': 'no-store, no-transform',
    Pragma: 'no-cache',
  });
  next();
};

function describe(res: Response, session: Pick<RendezvousSession, 'version' | 'expires_at' | 'updated_at'>): void {
  res.set({ ETag: quoted(session.version), Expires: session.expires_at.toUTCString(), 'Last-Modified': session.updated_at.toUTCString() });
}

/** Synapse's order: the size (from Content-Length, before reading anything), then the type. */
const checkInput: RequestHandler = (req, res, next) => {
  const fail = (err: ReturnType<typeof matrixError>) => asMatrix(res, err);
  const length = req.get('content-length');
  if (length === undefined) return fail(matrixError(400, 'M_MISSING_PARAM', 'Missing required header: content-length'));
  if (!/^\d+$/.test(length)) return fail(matrixError(400, 'M_INVALID_PARAM', 'Invalid header: content-length'));
  if (Number(length) > MAX_DATA_BYTES) return fail(matrixError(413, 'M_TOO_LARGE', 'Payload too large'));
  const type = req.get('content-type');
  if (type === undefined) return fail(matrixError(400, 'M_MISSING_PARAM', 'Missing required header: content-type'));
  // Exactly text/plain: no parameters (matrix-js-sdk compares the type it reads back as a string).
  if (!/^text\/plain$/i.test(type.trim())) return fail(matrixError(400, 'M_INVALID_PARAM', 'Content-Type must be text/plain'));
  next();
};

const body = express.raw({ type: () => true, limit: MAX_DATA_BYTES });
const bytes = (req: Request): Buffer => (Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0));

function conditionHeader(req: Request, name: 'if-match' | 'if-none-match'): EntityTagList | undefined {
  const value = req.get(name);
  if (value === undefined) return undefined;
  const tags = parseEntityTags(value);
  if (!tags) throw matrixError(400, 'M_INVALID_PARAM', `Invalid header: ${name}`);
  return tags;
}

export function msc4108Router(ctx: AppContext): Router {
  const router = express.Router();
  const handle = (fn: (req: Request, res: Response) => Promise<void>) => routeHandler(asMatrix, fn);
  const sessionPath = `${MSC4108_SESSIONS}/:id`;

  router.post(
    MSC4108_CREATE,
    checkInput,
    body,
    handle(async (req, res) => {
      const data = bytes(req);
      const version = etagOf(data);
      const opened = await openSession(ctx, req.ip, { protocol: 'msc4108', data, version });
      describe(res, { version, expires_at: opened.expiresAt, updated_at: opened.now });
      res.status(201).json({ url: `${ctx.config.http.public_base}${MSC4108_SESSIONS.slice(1)}/${opened.id}` });
    }),
  );

  router.get(
    sessionPath,
    handle(async (req, res) => {
      const ifNoneMatch = conditionHeader(req, 'if-none-match');
      const key = sessionKey(String(req.params.id));
      const session = await findLiveSession(ctx.sql, key, 'msc4108', ctx.clock.now());
      if (!session) throw notFound();
      describe(res, session);
      if (ifNoneMatch && noneMatchHolds(ifNoneMatch, session.version)) {
        res.status(304).end();
        return;
      }
      // Node's own setters and end(): Express would add a charset to the type (matrix-js-sdk wants
      // `text/plain` exactly) and res.send would answer 304 to If-Modified-Since on its own.
      res.status(200).setHeader('Content-Type', 'text/plain');
      res.setHeader('Content-Length', String(session.data.length));
      res.end(session.data);
    }),
  );

  router.put(
    sessionPath,
    checkInput,
    body,
    handle(async (req, res) => {
      const ifMatch = conditionHeader(req, 'if-match');
      if (!ifMatch) throw matrixError(400, 'M_MISSING_PARAM', 'Missing required header: if-match');
      const key = sessionKey(String(req.params.id));
      const data = bytes(req);
      const now = ctx.clock.now();
      const updated = await replaceIfCurrent(ctx.sql, { idHash: key, protocol: 'msc4108', now, expected: ifMatchVersions(ifMatch), data, version: etagOf(data) });
      if (!updated) {
        const current = await findLiveSession(ctx.sql, key, 'msc4108', now);
        if (!current) throw notFound();
        describe(res, current);
        throw matrixError(412, 'M_UNKNOWN', 'ETag does not match', { fields: { 'org.matrix.msc4108.errcode': 'M_CONCURRENT_WRITE' } });
      }
      describe(res, updated);
      // An empty body, yet typed: some caching proxies drop the ETag of an answer without a type.
      res.status(202).setHeader('Content-Type', 'text/plain');
      res.setHeader('Content-Length', '0');
      res.end();
    }),
  );

  router.delete(
    sessionPath,
    handle(async (req, res) => {
      const key = sessionKey(String(req.params.id));
      if (!(await deleteSession(ctx.sql, key, 'msc4108', ctx.clock.now()))) throw notFound();
      res.status(204).end();
    }),
  );

  return router;
}
