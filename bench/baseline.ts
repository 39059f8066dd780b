// The baseline for the introspection benchmark: a bare `node:http` server doing the work that
// introspection cannot avoid, with no framework around it: read the urlencoded body, check the
// `Authorization: Bearer` secret, hash the token, run the same indexed lookup
// (`findForIntrospection`) on a pool of its own, and answer with the same JSON fields.
// It mirrors the decisions of src/oidc/introspection.ts; bench/introspection.ts checks that both
// answer the same before measuring, so a change there that this file misses stops the bench.
import { timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { DatabaseConfig } from '../src/config/types.js';
import { deviceOf, parseScope, withBothForms } from '../src/domain/scopes.js';
import { hashSecret, tokenKind } from '../src/domain/tokens.js';
import { connect } from '../src/storage/db.js';
import { findForIntrospection, markAccessTokenUsed } from '../src/storage/oidc-payloads.js';

export interface BaselineServer {
  url: string;
  close(): Promise<void>;
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

function safeEqual(a: string, b: string): boolean {
  const ab = Buffer.from(a);
  const bb = Buffer.from(b);
  return ab.length === bb.length && timingSafeEqual(ab, bb);
}

export async function startBaseline(options: {
  database: DatabaseConfig;
  secret: string;
  path: string;
  host?: string;
}): Promise<BaselineServer> {
  // Same pool settings as Mauth's (storage/db.ts `connect`), its own connections.
  const db = await connect(options.database, { max: 10 });
  const { sql } = db;
  const { secret, path } = options;

  async function introspect(req: IncomingMessage, res: ServerResponse, body: string): Promise<void> {
    if (!(req.headers['content-type'] ?? '').startsWith('application/x-www-form-urlencoded')) {
      return send(res, 400, { error: 'invalid_request', error_description: 'the body must be application/x-www-form-urlencoded' });
    }
    const authz = req.headers.authorization ?? '';
    if (!authz.startsWith('Bearer ') || !safeEqual(authz.slice(7).trim(), secret)) {
      return send(res, 401, { error: 'invalid_client', error_description: 'client authentication failed' });
    }
    const token = new URLSearchParams(body).get('token');
    if (!token) return send(res, 400, { error: 'invalid_request', error_description: 'missing token parameter' });
    const kind = tokenKind(token);
    if (kind !== 'accessToken' && kind !== 'refreshToken') return send(res, 200, { active: false });
    const key = hashSecret(token);
    const model = kind === 'accessToken' ? 'AccessToken' : 'RefreshToken';
    const at = new Date();
    const row = await findForIntrospection(sql, model, key, at);
    if (!row || !row.user_active || row.consumed_at) return send(res, 200, { active: false });
    const now = Math.floor(at.getTime() / 1000);
    const exp = row.expires_at ? Math.floor(row.expires_at.getTime() / 1000) : undefined;
    if (model === 'AccessToken' && !row.used_at) await markAccessTokenUsed(sql, key);
    const scopes = parseScope(row.scope ?? row.payload.scope);
    const device = deviceOf(scopes);
    send(res, 200, {
      active: true,
      scope: withBothForms(scopes).join(' '),
      client_id: row.payload.clientId,
      username: row.username,
      sub: row.payload.accountId,
      token_type: model === 'AccessToken' ? 'access_token' : 'refresh_token',
      iat: row.payload.iat,
      exp,
      ...(exp !== undefined ? { expires_in: Math.max(0, exp - now) } : {}),
      ...(req.headers['x-mas-supports-device-id'] === '1' && device !== undefined ? { device_id: device } : {}),
    });
  }

  const server = createServer((req, res) => {
    if (req.url !== path) return send(res, 404, { error: 'not_found' });
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
      introspect(req, res, Buffer.concat(chunks).toString('utf8')).catch(() => {
        if (!res.headersSent) send(res, 500, { error: 'server_error' });
      });
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
      await db.close();
    },
  };
}
