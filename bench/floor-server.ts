// What the floors' bare `node:http` servers share (bench/baseline.ts, bench/refresh-floor.ts): one
// path, POST only, the body read whole (64 KiB at most), the answer sent as JSON, keep-alive as
// long as Mauth's listeners keep it. No framework: this is the least any server does around the
// work it measures, so each floor differs only in that work.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface FloorServer {
  url: string;
  close(): Promise<void>;
}

export interface FloorAnswer {
  status: number;
  body: unknown;
}

const BODY_LIMIT = 64 * 1024;

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
  });
  res.end(text);
}

/** The urlencoded body a floor reads: anything else is refused as Mauth refuses it. */
export function notUrlencoded(req: IncomingMessage): FloorAnswer | undefined {
  if ((req.headers['content-type'] ?? '').startsWith('application/x-www-form-urlencoded')) return undefined;
  return { status: 400, body: { error: 'invalid_request', error_description: 'the body must be application/x-www-form-urlencoded' } };
}

/**
 * Serves `answer` on POST `path` at 127.0.0.1 (a port the system picks); `release` runs after
 * the server is closed (the floor's own database pool).
 */
export async function serveFloor(options: {
  path: string;
  host?: string;
  answer(req: IncomingMessage, body: string): Promise<FloorAnswer>;
  release(): Promise<void>;
}): Promise<FloorServer> {
  const server = createServer((req, res) => {
    if (req.url !== options.path) return send(res, 404, { error: 'not_found' });
    if (req.method !== 'POST') return send(res, 405, { error: 'invalid_request' });
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > BODY_LIMIT) {
        send(res, 413, { error: 'invalid_request' });
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      options.answer(req, Buffer.concat(chunks).toString('utf8')).then(
        (answer) => send(res, answer.status, answer.body),
        () => {
          if (!res.headersSent) send(res, 500, { error: 'server_error' });
        },
      );
    });
  });
  server.keepAliveTimeout = 65_000; // as Mauth's listeners
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, options.host ?? '127.0.0.1', () => resolve());
  });
  const { address, port } = server.address() as AddressInfo;
  return {
    url: `http://${address}:${port}`,
    async close() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      await options.release();
    },
  };
}
