// oidc-provider's stored tokens and grants as read outside its adapter: the introspection lookup
// (one indexed read by token hash, joined to its user; a token is active only while it is not
// revoked and its grant exists) and what ending every session of an account needs.
import type { Db } from './db.js';

export interface IntrospectedToken {
  model: 'AccessToken' | 'RefreshToken';
  payload: {
    accountId?: string;
    clientId?: string;
    grantId?: string;
    scope?: string;
    iat?: number;
    exp?: number;
  };
  expires_at: Date | null;
  consumed_at: Date | null;
  used_at: Date | null;
  /**
   * The scope of the grant the token belongs to. oidc-provider drops scopes it cannot list in
   * advance (the Matrix device scope carries the device id) from the token itself; the grant keeps
   * exactly what the user consented to.
   */
  scope: string | null;
  username: string;
  user_active: boolean;
}

export async function findForIntrospection(
  db: Db,
  model: 'AccessToken' | 'RefreshToken',
  key: string,
): Promise<IntrospectedToken | undefined> {
  const [row] = await db<IntrospectedToken[]>`
    SELECT p.model, p.payload, p.expires_at, p.consumed_at, p.used_at, u.username,
           (u.locked_at IS NULL AND u.deactivated_at IS NULL) AS user_active, p.scope
    FROM oidc_payloads p
    JOIN users u ON u.id = p.account_id
    WHERE p.model = ${model} AND p.id = ${key} AND p.revoked_at IS NULL
      -- A token saved while its grant was being ended (a rotation racing a replay) outlives it.
      AND EXISTS (SELECT 1 FROM oidc_payloads g WHERE g.model = 'Grant' AND g.id = p.grant_id)`;
  return row;
}

/**
 * Every grant of an account, whatever stage it is at: consented only, an authorization code not
 * yet exchanged (no OAuth 2.0 session exists for it yet), or tokens issued.
 */
export async function grantIdsOfAccount(db: Db, userId: string): Promise<string[]> {
  const rows = await db<{ grant_id: string }[]>`
    SELECT DISTINCT CASE WHEN model = 'Grant' THEN id ELSE grant_id END AS grant_id
    FROM oidc_payloads
    WHERE account_id = ${userId} AND (model = 'Grant' OR grant_id IS NOT NULL)`;
  return rows.map((r) => r.grant_id);
}

/**
 * Forgets oidc-provider's sign-in sessions of an account: an authorization already under way in
 * a browser of that account can no longer finish (oidc-provider checks the session it started with).
 */
export async function deleteProviderSessionsOfAccount(db: Db, userId: string): Promise<void> {
  await db`DELETE FROM oidc_payloads WHERE model = 'Session' AND account_id = ${userId}`;
}
