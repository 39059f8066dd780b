// MSC4388, MSC4108's successor, as Synapse's `experimental_features.msc4388_mode: open` serves it:
// JSON bodies, an opaque `sequence_token` instead of ETags, 409 on a concurrent write, 120 s from
// creation. Everything under /_matrix/client/unstable/io.element.msc4388/rendezvous.
import express, { type Request, type RequestHandler, type Response, type Router } from 'express';
import type { AppContext } from '../context.js';
import { deleteSession, findLiveSession, replaceIfCurrent } from '../storage/rendezvous.js';
import { asMatrix, routeHandler } from '../web/errors.js';
import { MAX_DATA_BYTES, matrixError, notFound, openSession, sessionKey } from './sessions.js';

export const MSC4388_PATH = '/_matrix/client/unstable/io.element.msc4388/rendezvous';

/** On every answer of these paths, errors included. */
export const msc4388Headers: RequestHandler = (_req, res, next) => {
  res.set({ 'Access-Control-Allow-Origin': '*', 'Cache-Control': 'no-store' });
  next();
};

// Room for 4 KiB of data however it is escaped in JSON.
const body = express.raw({ type: () => true, limit: '64kb' });

const invalid = () => matrixError(400, 'M_INVALID_PARAM', 'Invalid JSON in request body');

// Strict, as Synapse's JSON parser: bytes that are not UTF-8 are refused, not replaced.
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
// In a `u` regular expression a surrogate pair is one code point: this finds only lone halves.
const LONE_SURROGATE = /\p{Cs}/u;

/**
 * The request's JSON object with these string fields; `data` at most 4 KiB once decoded. Nothing
 * is stored that would not be read back as it was written: a lone surrogate (which UTF-8 cannot
 * hold) is refused.
 */
function fields<K extends string>(req: Request, keys: readonly K[]): Record<K, string> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(utf8.decode(Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0)));
  } catch {
    throw invalid();
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw invalid();
  const record = parsed as Record<string, unknown>;
  const out = {} as Record<K, string>;
  for (const key of keys) {
    const value = record[key];
    if (typeof value !== 'string' || LONE_SURROGATE.test(value)) throw invalid();
    out[key] = value;
  }
  return out;
}

function dataBytes(data: string): Buffer {
  const bytes = Buffer.from(data, 'utf8');
  if (bytes.length > MAX_DATA_BYTES) throw matrixError(413, 'M_TOO_LARGE', 'Payload too large');
  return bytes;
}

/**
 * The MSC's Fetch Metadata rule: the data must not reach a page a browser would render or a
 * navigation the user started, only a script's fetch.
 */
function checkFetchMetadata(req: Request): void {
  const dest = req.get('sec-fetch-dest');
  const refuse = (why: string) => matrixError(403, 'M_FORBIDDEN', `Rendezvous content is not accessible ${why}`);
  if (dest !== undefined && dest !== 'empty') throw refuse('from the request destination');
  if (req.get('sec-fetch-mode') === 'navigate') throw refuse('via top-level navigation');
  if (req.get('sec-fetch-user') === '?1') throw refuse('from requests with user activation');
  if (req.get('sec-fetch-site') === 'none') throw refuse('from requests from user interaction');
}

const expiresInMs = (expiresAt: Date, now: Date) => Math.max(0, expiresAt.getTime() - now.getTime());

export function msc4388Router(ctx: AppContext): Router {
  const router = express.Router();
  const handle = (fn: (req: Request, res: Response) => Promise<void>) => routeHandler(asMatrix, fn);
  const sessionPath = `${MSC4388_PATH}/:id`;
  const newToken = () => ctx.random.bytes(32).toString('base64url');

  // Discovery: creation needs no authentication here (Synapse's `open` mode).
  router.get(MSC4388_PATH, (_req, res) => {
    res.json({ create_available: true });
  });

  router.post(
    MSC4388_PATH,
    body,
    handle(async (req, res) => {
      const data = dataBytes(fields(req, ['data']).data);
      const sequenceToken = newToken();
      const opened = await openSession(ctx, req.ip, { protocol: 'msc4388', data, version: sequenceToken });
      res.json({ id: opened.id, sequence_token: sequenceToken, expires_in_ms: expiresInMs(opened.expiresAt, opened.now) });
    }),
  );

  router.get(
    sessionPath,
    handle(async (req, res) => {
      checkFetchMetadata(req);
      const now = ctx.clock.now();
      const session = await findLiveSession(ctx.sql, sessionKey(String(req.params.id)), 'msc4388', now);
      if (!session) throw notFound();
      res.json({ data: session.data.toString('utf8'), sequence_token: session.version, expires_in_ms: expiresInMs(session.expires_at, now) });
    }),
  );

  router.put(
    sessionPath,
    body,
    handle(async (req, res) => {
      const input = fields(req, ['sequence_token', 'data']);
      const data = dataBytes(input.data);
      const key = sessionKey(String(req.params.id));
      const now = ctx.clock.now();
      const updated = await replaceIfCurrent(ctx.sql, { idHash: key, protocol: 'msc4388', now, expected: [input.sequence_token], data, version: newToken() });
      if (updated) {
        res.json({ sequence_token: updated.version });
        return;
      }
      const current = await findLiveSession(ctx.sql, key, 'msc4388', now);
      if (!current) throw notFound();
      // A retry of the write that succeeded last (its answer was lost): the same data under the
      // token it replaced is no conflict.
      if (current.previous_version === input.sequence_token && current.data.equals(data)) {
        res.json({ sequence_token: current.version });
        return;
      }
      throw matrixError(409, 'IO_ELEMENT_MSC4388_CONCURRENT_WRITE', 'sequence_token does not match');
    }),
  );

  router.delete(
    sessionPath,
    handle(async (req, res) => {
      if (!(await deleteSession(ctx.sql, sessionKey(String(req.params.id)), 'msc4388', ctx.clock.now()))) throw notFound();
      res.json({});
    }),
  );

  return router;
}
