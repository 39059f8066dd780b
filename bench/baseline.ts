// The baseline for the introspection benchmark: a bare `node:http` server doing the work that
// introspection cannot avoid, with no framework around it: read the urlencoded body, check the
// `Authorization: Bearer` secret, hash the token, run the same indexed lookup
// (`findForIntrospection`) on a pool of its own, and answer with the same JSON fields.
// It keeps no answer cache: every request costs one lookup, as Mauth's with `introspection.cache_ttl: 0`.
// It mirrors the decisions of src/oidc/introspection.ts; the benchmarks check that both answer
// the same before measuring (harness.ts `startIntrospectionFloor`), so a change there that this
// file misses stops the bench.
import { timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { DatabaseConfig } from '../src/config/types.js';
import { deviceOf, parseScope, withBothForms } from '../src/domain/scopes.js';
import { hashSecret, tokenKind } from '../src/domain/tokens.js';
import { connect } from '../src/storage/db.js';
import { findForIntrospection, markAccessTokenUsed } from '../src/storage/oidc-payloads.js';
import { notUrlencoded, serveFloor, type FloorAnswer, type FloorServer } from './floor-server.js';

export type BaselineServer = FloorServer;

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

  async function introspect(req: IncomingMessage, body: string): Promise<FloorAnswer> {
    const refused = notUrlencoded(req);
    if (refused) return refused;
    const authz = req.headers.authorization ?? '';
    if (!authz.startsWith('Bearer ') || !safeEqual(authz.slice(7).trim(), secret)) {
      return { status: 401, body: { error: 'invalid_client', error_description: 'client authentication failed' } };
    }
    const token = new URLSearchParams(body).get('token');
    if (!token) return { status: 400, body: { error: 'invalid_request', error_description: 'missing token parameter' } };
    const kind = tokenKind(token);
    if (kind !== 'accessToken' && kind !== 'refreshToken') return { status: 200, body: { active: false } };
    const key = hashSecret(token);
    const model = kind === 'accessToken' ? 'AccessToken' : 'RefreshToken';
    const at = new Date();
    const row = await findForIntrospection(sql, model, key, at);
    if (!row || !row.user_active || row.consumed_at) return { status: 200, body: { active: false } };
    const now = Math.floor(at.getTime() / 1000);
    const exp = row.expires_at ? Math.floor(row.expires_at.getTime() / 1000) : undefined;
    if (model === 'AccessToken' && !row.used_at) await markAccessTokenUsed(sql, key);
    const scopes = parseScope(row.scope ?? row.payload.scope);
    const device = deviceOf(scopes);
    return {
      status: 200,
      body: {
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
      },
    };
  }

  return serveFloor({ path, host: options.host, answer: introspect, release: () => db.close() });
}
