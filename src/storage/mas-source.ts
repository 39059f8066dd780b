// Reading a Matrix Authentication Service database for `mauth import-mas` (the tables of MAS's
// crates/storage-pg/migrations). Read-only connection (see synapse-source.ts), one REPEATABLE READ
// snapshot. MAS's ids are ULIDs stored as UUIDs; they are read as text and turned back into
// ULIDs by the importer, so that users keep their `sub` and clients their `client_id`. Only what
// is still live is read: sessions not finished, tokens neither revoked, consumed nor expired.
import type { Db, Sql, Tx } from './db.js';
import { wholeTablePlans } from './synapse-source.js';

export async function snapshot<T>(sql: Sql, read: (tx: Tx) => Promise<T>): Promise<T> {
  return (await sql.begin('isolation level repeatable read read only', async (tx) => {
    await wholeTablePlans(tx);
    return read(tx);
  })) as T;
}

export interface MasUser {
  user_id: string;
  username: string;
  created_at: Date;
  locked_at: Date | null;
  deactivated_at: Date | null;
  can_request_admin: boolean;
  is_guest: boolean;
}

export interface MasPassword {
  user_id: string;
  hashed_password: string;
  version: number;
  created_at: Date;
}

export interface MasEmail {
  user_id: string;
  email: string;
  created_at: Date;
}

export interface MasThreepid {
  user_id: string;
  medium: string;
  address: string;
  created_at: Date;
}

export interface MasLink {
  upstream_oauth_link_id: string;
  upstream_oauth_provider_id: string;
  user_id: string;
  subject: string;
  human_account_name: string | null;
  created_at: Date;
}

export interface MasClient {
  oauth2_client_id: string;
  encrypted_client_secret: string | null;
  redirect_uris: string[];
  grant_type_authorization_code: boolean;
  grant_type_refresh_token: boolean;
  grant_type_client_credentials: boolean;
  grant_type_device_code: boolean;
  client_name: string | null;
  logo_uri: string | null;
  client_uri: string | null;
  policy_uri: string | null;
  tos_uri: string | null;
  jwks_uri: string | null;
  jwks: Record<string, unknown> | null;
  id_token_signed_response_alg: string | null;
  userinfo_signed_response_alg: string | null;
  token_endpoint_auth_method: string | null;
  token_endpoint_auth_signing_alg: string | null;
  initiate_login_uri: string | null;
  application_type: string | null;
  contacts: string[];
  created_at: Date | null;
}

export interface MasOAuthSession {
  oauth2_session_id: string;
  oauth2_client_id: string;
  user_id: string;
  scope_list: string[];
  created_at: Date;
  last_active_at: Date | null;
}

export interface MasOAuthToken {
  oauth2_session_id: string;
  token: string;
  created_at: Date;
  expires_at: Date | null;
  first_used_at: Date | null;
}

export interface MasCompatSession {
  compat_session_id: string;
  user_id: string;
  device_id: string;
  is_synapse_admin: boolean;
  user_agent: string | null;
  created_at: Date;
  last_active_at: Date | null;
}

export interface MasCompatAccessToken {
  compat_access_token_id: string;
  compat_session_id: string;
  access_token: string;
  created_at: Date;
  expires_at: Date | null;
}

export interface MasCompatRefreshToken {
  compat_session_id: string;
  compat_access_token_id: string;
  refresh_token: string;
  created_at: Date;
}

export interface MasBrowserSession {
  user_session_id: string;
  user_id: string;
  user_agent: string | null;
  last_active_ip: string | null;
  created_at: Date;
  finished_at: Date | null;
  last_active_at: Date | null;
  last_authenticated_at: Date | null;
}

export interface MasRegistrationToken {
  token: string;
  usage_limit: number | null;
  times_used: number;
  created_at: Date;
  last_used_at: Date | null;
  expires_at: Date | null;
  revoked_at: Date | null;
}

export interface MasPersonalSession {
  personal_session_id: string;
  owner_user_id: string | null;
  owner_oauth2_client_id: string | null;
  actor_user_id: string;
  human_name: string;
  scope_list: string[];
  created_at: Date;
  last_active_at: Date | null;
}

export interface MasPersonalToken {
  personal_access_token_id: string;
  personal_session_id: string;
  /** The SHA-256 MAS keeps, base64url-encoded: the form Mauth stores token hashes in. */
  token_hash: string;
  created_at: Date;
  expires_at: Date | null;
}

export const readUsers = (tx: Tx, batch: number) =>
  tx<MasUser[]>`
    SELECT user_id::text, username, created_at, locked_at, deactivated_at, can_request_admin, is_guest FROM users`.cursor(batch);

/** Each user's current password (MAS keeps the previous ones too). */
export const readPasswords = (tx: Tx, batch: number) =>
  tx<MasPassword[]>`
    SELECT DISTINCT ON (user_id) user_id::text, hashed_password, version, created_at
    FROM user_passwords ORDER BY user_id, created_at DESC, user_password_id DESC`.cursor(batch);

export const readEmails = (tx: Tx, batch: number) =>
  tx<MasEmail[]>`SELECT user_id::text, email, created_at FROM user_emails`.cursor(batch);

export const readThreepids = (tx: Tx, batch: number) =>
  tx<MasThreepid[]>`SELECT user_id::text, medium, address, created_at FROM user_unsupported_third_party_ids`.cursor(batch);

export const readLinks = (tx: Tx, batch: number) =>
  tx<MasLink[]>`
    SELECT upstream_oauth_link_id::text, upstream_oauth_provider_id::text, user_id::text, subject, human_account_name, created_at
    FROM upstream_oauth_links WHERE user_id IS NOT NULL`.cursor(batch);

/** Clients registered dynamically (static ones come from the configuration). */
export async function readDynamicClients(db: Db): Promise<MasClient[]> {
  return db<MasClient[]>`
    SELECT oauth2_client_id::text, encrypted_client_secret, redirect_uris, grant_type_authorization_code,
           grant_type_refresh_token, grant_type_client_credentials, grant_type_device_code, client_name, logo_uri,
           client_uri, policy_uri, tos_uri, jwks_uri, jwks, id_token_signed_response_alg, userinfo_signed_response_alg,
           token_endpoint_auth_method, token_endpoint_auth_signing_alg, initiate_login_uri, application_type, contacts, created_at
    FROM oauth2_clients WHERE NOT is_static`;
}

export const readOAuthSessions = (tx: Tx, batch: number) =>
  tx<MasOAuthSession[]>`
    SELECT oauth2_session_id::text, oauth2_client_id::text, user_id::text, scope_list, created_at, last_active_at
    FROM oauth2_sessions WHERE finished_at IS NULL AND user_id IS NOT NULL`.cursor(batch);

export const readOAuthAccessTokens = (tx: Tx, batch: number, now: Date) =>
  tx<MasOAuthToken[]>`
    SELECT t.oauth2_session_id::text, t.access_token AS token, t.created_at, t.expires_at, t.first_used_at
    FROM oauth2_access_tokens t JOIN oauth2_sessions s USING (oauth2_session_id)
    WHERE s.finished_at IS NULL AND s.user_id IS NOT NULL AND t.revoked_at IS NULL
      AND (t.expires_at IS NULL OR t.expires_at > ${now})`.cursor(batch);

export const readOAuthRefreshTokens = (tx: Tx, batch: number) =>
  tx<MasOAuthToken[]>`
    SELECT t.oauth2_session_id::text, t.refresh_token AS token, t.created_at, NULL::timestamptz AS expires_at, NULL::timestamptz AS first_used_at
    FROM oauth2_refresh_tokens t JOIN oauth2_sessions s USING (oauth2_session_id)
    WHERE s.finished_at IS NULL AND s.user_id IS NOT NULL AND t.consumed_at IS NULL AND t.revoked_at IS NULL`.cursor(batch);

export const readCompatSessions = (tx: Tx, batch: number) =>
  tx<MasCompatSession[]>`
    SELECT compat_session_id::text, user_id::text, device_id, is_synapse_admin, user_agent, created_at, last_active_at
    FROM compat_sessions WHERE finished_at IS NULL AND device_id IS NOT NULL`.cursor(batch);

/** Every access token of a live session: an expired one may still be the one a live refresh token replaces. */
export const readCompatAccessTokens = (tx: Tx, batch: number) =>
  tx<MasCompatAccessToken[]>`
    SELECT t.compat_access_token_id::text, t.compat_session_id::text, t.access_token, t.created_at, t.expires_at
    FROM compat_access_tokens t JOIN compat_sessions s USING (compat_session_id)
    WHERE s.finished_at IS NULL AND s.device_id IS NOT NULL`.cursor(batch);

export const readCompatRefreshTokens = (tx: Tx, batch: number) =>
  tx<MasCompatRefreshToken[]>`
    SELECT t.compat_session_id::text, t.compat_access_token_id::text, t.refresh_token, t.created_at
    FROM compat_refresh_tokens t JOIN compat_sessions s USING (compat_session_id)
    WHERE s.finished_at IS NULL AND s.device_id IS NOT NULL AND t.consumed_at IS NULL`.cursor(batch);

export const readBrowserSessions = (tx: Tx, batch: number) =>
  tx<MasBrowserSession[]>`
    SELECT s.user_session_id::text, s.user_id::text, s.user_agent, host(s.last_active_ip) AS last_active_ip, s.created_at,
           s.finished_at, s.last_active_at,
           (SELECT max(a.created_at) FROM user_session_authentications a WHERE a.user_session_id = s.user_session_id) AS last_authenticated_at
    FROM user_sessions s`.cursor(batch);

export const readPersonalSessions = (tx: Tx, batch: number) =>
  tx<MasPersonalSession[]>`
    SELECT personal_session_id::text, owner_user_id::text, owner_oauth2_client_id::text, actor_user_id::text, human_name,
           scope_list, created_at, last_active_at
    FROM personal_sessions WHERE revoked_at IS NULL`.cursor(batch);

/** Live tokens of live personal sessions. MAS keeps only their SHA-256, which is all Mauth keeps too. */
export const readPersonalTokens = (tx: Tx, batch: number, now: Date) =>
  tx<MasPersonalToken[]>`
    SELECT t.personal_access_token_id::text, t.personal_session_id::text,
           translate(rtrim(encode(t.access_token_sha256, 'base64'), '='), '+/', '-_') AS token_hash, t.created_at, t.expires_at
    FROM personal_access_tokens t JOIN personal_sessions s USING (personal_session_id)
    WHERE s.revoked_at IS NULL AND t.revoked_at IS NULL AND (t.expires_at IS NULL OR t.expires_at > ${now})`.cursor(batch);

export async function readRegistrationTokens(db: Db): Promise<MasRegistrationToken[]> {
  return db<MasRegistrationToken[]>`
    SELECT token, usage_limit, times_used, created_at, last_used_at, expires_at, revoked_at FROM user_registration_tokens`;
}

// --- what the import checks ---

export interface MasFacts {
  users: number;
  guests: number;
  /** Password scheme versions in use, with how many current passwords each, and one hash of each. */
  passwordVersions: { version: number; count: number; sample: string }[];
  /** Providers that users are linked to, with how many links. */
  linkedProviders: { provider_id: string; count: number }[];
  /** Static clients with live user sessions (they must be configured in Mauth too). */
  staticClientsInUse: { client_id: string; sessions: number }[];
  /** The latest activity any session recorded. */
  lastActive: Date | null;
}

export async function facts(db: Db): Promise<MasFacts> {
  const [counts] = await db<{ users: number; guests: number; lastActive: Date | null }[]>`
    SELECT count(*)::int AS users, count(*) FILTER (WHERE is_guest)::int AS guests,
           greatest((SELECT max(last_active_at) FROM oauth2_sessions), (SELECT max(last_active_at) FROM compat_sessions),
                    (SELECT max(last_active_at) FROM user_sessions), (SELECT max(last_active_at) FROM personal_sessions)) AS "lastActive"
    FROM users`;
  const passwordVersions = await db<{ version: number; count: number; sample: string }[]>`
    SELECT version, count(*)::int AS count, min(hashed_password) AS sample FROM (
      SELECT DISTINCT ON (user_id) version, hashed_password FROM user_passwords ORDER BY user_id, created_at DESC, user_password_id DESC
    ) p GROUP BY version ORDER BY version`;
  const linkedProviders = await db<{ provider_id: string; count: number }[]>`
    SELECT upstream_oauth_provider_id::text AS provider_id, count(*)::int AS count
    FROM upstream_oauth_links WHERE user_id IS NOT NULL GROUP BY upstream_oauth_provider_id`;
  const staticClientsInUse = await db<{ client_id: string; sessions: number }[]>`
    SELECT c.oauth2_client_id::text AS client_id, count(*)::int AS sessions
    FROM oauth2_clients c JOIN oauth2_sessions s ON s.oauth2_client_id = c.oauth2_client_id
    WHERE c.is_static AND s.finished_at IS NULL AND s.user_id IS NOT NULL GROUP BY c.oauth2_client_id`;
  return { ...counts, passwordVersions, linkedProviders, staticClientsInUse };
}
