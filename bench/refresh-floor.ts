// The floor of the refresh benchmark: a bare `node:http` server doing the durable work a
// refresh-token grant cannot avoid, in ONE transaction on a pool of its own (same client, same
// settings as Mauth's): read the refresh token joined to its grant and user, consume it
// atomically, revoke (delete) the grant's access token it replaces, insert the successor access
// token and refresh token. Five statements between BEGIN and COMMIT. It stores its rows in the
// form Mauth's adapter does, so Mauth's own introspection accepts the tokens it issues (the
// benchmark checks that before any load).
//
// It authenticates nothing but the client id against the token (a public client, as the
// benchmark's is), runs no policy, no hooks and no client lookup, and signs no ID token (Mauth's
// answer carries one; the benchmark compares every other field): it is the least a server can do.
import type { IncomingMessage } from 'node:http';
import postgres from 'postgres';
import { ulid } from 'ulid';
import { systemRandomness } from '../src/clock.js';
import type { DatabaseConfig } from '../src/config/types.js';
import { generateToken, hashSecret, tokenKind } from '../src/domain/tokens.js';
import { TTL_SECONDS, tokenScope } from '../src/oidc/stored-payloads.js';
import { connect } from '../src/storage/db.js';
import { notUrlencoded, serveFloor, type FloorAnswer, type FloorServer } from './floor-server.js';

export type RefreshFloor = FloorServer;

const epoch = (ms: number) => Math.floor(ms / 1000);

interface TokenRow {
  payload: { clientId?: string; accountId?: string };
  grant_id: string;
  account_id: string;
  grant_scope: string;
  user_active: boolean;
}

export async function startRefreshFloor(options: { database: DatabaseConfig; path: string; accessTokenTtl: number }): Promise<RefreshFloor> {
  const db = await connect(options.database, { max: 10 });
  const { sql } = db;

  async function refresh(req: IncomingMessage, body: string): Promise<FloorAnswer> {
    const refused = notUrlencoded(req);
    if (refused) return refused;
    const form = new URLSearchParams(body);
    const token = form.get('refresh_token');
    const clientId = form.get('client_id');
    if (form.get('grant_type') !== 'refresh_token' || !token || !clientId) {
      return { status: 400, body: { error: 'invalid_request', error_description: 'refresh_token, client_id and grant_type=refresh_token are required' } };
    }
    if (tokenKind(token) !== 'refreshToken') return { status: 400, body: { error: 'invalid_grant', error_description: 'grant request is invalid' } };
    const key = hashSecret(token);
    const now = Date.now();
    const accessToken = generateToken('accessToken', systemRandomness);
    const refreshToken = generateToken('refreshToken', systemRandomness);
    const scope = await sql.begin(async (tx) => {
      const [row] = await tx<TokenRow[]>`
        SELECT t.payload, t.grant_id, t.account_id, g.payload -> 'openid' ->> 'scope' AS grant_scope,
               (u.locked_at IS NULL AND u.deactivated_at IS NULL) AS user_active
        FROM oidc_payloads t
        JOIN oidc_payloads g ON g.model = 'Grant' AND g.id = t.grant_id
        JOIN users u ON u.id = t.account_id
        WHERE t.model = 'RefreshToken' AND t.id = ${key} AND t.expires_at > ${new Date(now)}
          AND t.consumed_at IS NULL AND t.revoked_at IS NULL`;
      if (!row || !row.user_active || row.payload.clientId !== clientId) return undefined;
      const consumed = await tx`
        UPDATE oidc_payloads SET consumed_at = clock_timestamp()
        WHERE model = 'RefreshToken' AND id = ${key} AND consumed_at IS NULL RETURNING 1`;
      if (consumed.length === 0) return undefined;
      await tx`DELETE FROM oidc_payloads WHERE model = 'AccessToken' AND grant_id = ${row.grant_id}`;
      const facts = { accountId: row.account_id, clientId, grantId: row.grant_id, scope: tokenScope(row.grant_scope), iat: epoch(now) };
      const accessExp = epoch(now) + options.accessTokenTtl;
      const refreshExp = epoch(now) + TTL_SECONDS.RefreshToken;
      await tx`
        INSERT INTO oidc_payloads (model, id, payload, grant_id, account_id, expires_at, scope)
        VALUES ('AccessToken', ${hashSecret(accessToken)}, ${tx.json({ ...facts, exp: accessExp, gty: 'refresh_token', kind: 'AccessToken' })},
                ${row.grant_id}, ${row.account_id}, to_timestamp(${accessExp}), ${row.grant_scope})`;
      await tx`
        INSERT INTO oidc_payloads (model, id, payload, grant_id, account_id, expires_at, scope)
        VALUES ('RefreshToken', ${hashSecret(refreshToken)}, ${tx.json({ ...facts, exp: refreshExp, gty: 'refresh_token', kind: 'RefreshToken' })},
                ${row.grant_id}, ${row.account_id}, to_timestamp(${refreshExp}), ${row.grant_scope})`;
      return row.grant_scope;
    });
    if (scope === undefined) return { status: 400, body: { error: 'invalid_grant', error_description: 'grant request is invalid' } };
    return {
      status: 200,
      body: { access_token: accessToken, expires_in: options.accessTokenTtl, refresh_token: refreshToken, scope, token_type: 'Bearer' },
    };
  }

  return serveFloor({ path: options.path, answer: refresh, release: () => db.close() });
}

/**
 * Refresh tokens for the floor, stored as fixtures.ts stores access tokens: for each, a grant of
 * its own (one device each) with a live access token and an unused refresh token of `clientId`.
 */
export async function seedFloorChains(url: string, userId: string, clientId: string, count: number): Promise<string[]> {
  const sql = postgres(url, { max: 1, onnotice: () => {}, transform: { undefined: null } });
  try {
    const iat = epoch(Date.now());
    const tokens: string[] = [];
    const rows: { model: string; id: string; payload: string; grant: string | null; exp: number; scope: string | null }[] = [];
    for (let i = 0; i < count; i += 1) {
      const grantId = ulid();
      const scope = `openid urn:matrix:client:api:* urn:matrix:client:device:FLOOR${i.toString(36).toUpperCase().padStart(6, '0')}`;
      const refresh = generateToken('refreshToken', systemRandomness);
      const access = generateToken('accessToken', systemRandomness);
      tokens.push(refresh);
      const facts = { accountId: userId, clientId, grantId, scope: tokenScope(scope), iat };
      const grantExp = iat + TTL_SECONDS.Grant;
      rows.push({ model: 'Grant', id: grantId, grant: null, exp: grantExp, scope: null, payload: JSON.stringify({ accountId: userId, clientId, kind: 'Grant', openid: { scope }, iat, exp: grantExp }) });
      rows.push({ model: 'AccessToken', id: hashSecret(access), grant: grantId, exp: iat + 300, scope, payload: JSON.stringify({ ...facts, exp: iat + 300, kind: 'AccessToken' }) });
      const refreshExp = iat + TTL_SECONDS.RefreshToken;
      rows.push({ model: 'RefreshToken', id: hashSecret(refresh), grant: grantId, exp: refreshExp, scope, payload: JSON.stringify({ ...facts, exp: refreshExp, kind: 'RefreshToken' }) });
    }
    await sql`
      INSERT INTO oidc_payloads (model, id, payload, grant_id, account_id, expires_at, scope)
      SELECT t.model, t.id, t.payload::jsonb, t.grant_id, ${userId}, to_timestamp(t.exp), t.scope
      FROM unnest(${rows.map((r) => r.model)}::text[], ${rows.map((r) => r.id)}::text[], ${rows.map((r) => r.payload)}::text[],
                  ${rows.map((r) => r.grant)}::text[], ${rows.map((r) => r.exp)}::float8[], ${rows.map((r) => r.scope)}::text[])
        AS t (model, id, payload, grant_id, exp, scope)`;
    await sql`ANALYZE oidc_payloads`;
    return tokens;
  } finally {
    await sql.end({ timeout: 5 });
  }
}
