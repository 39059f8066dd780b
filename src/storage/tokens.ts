// The introspection lookup: one indexed read by token hash, joined to its user.
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
    WHERE p.model = ${model} AND p.id = ${key}`;
  return row;
}
