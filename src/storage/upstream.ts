// Upstream providers (as synced from the configuration), links between their subjects and local
// users, and authorization sessions (one round trip through a provider each).
import { ulid } from 'ulid';
import type { Db, Tx } from './db.js';
import { hashSecret } from '../domain/tokens.js';
import { asciiLower, emailKey } from '../domain/email-address.js';

export interface ProviderRow {
  id: string;
  issuer: string | null;
  human_name: string | null;
  brand_name: string | null;
  synapse_idp_id: string | null;
  config: Record<string, unknown>;
  encrypted_client_secret: string | null;
  encrypted_private_key: string | null;
  ui_order: number;
  created_at: Date;
  updated_at: Date;
  disabled_at: Date | null;
}

export interface LinkRow {
  id: string;
  provider_id: string;
  subject: string;
  user_id: string;
  human_account_name: string | null;
  imported_email: string | null;
  created_at: Date;
}

export interface PendingRegistration {
  localpart: string;
  displayName?: string;
  email?: string;
}

export interface SessionRow {
  id: string;
  provider_id: string;
  state_hash: string;
  next_path: string;
  subject: string | null;
  upstream_sid: string | null;
  id_token_claims: Record<string, unknown> | null;
  userinfo_claims: Record<string, unknown> | null;
  extra_callback_parameters: Record<string, unknown> | null;
  pending_registration: PendingRegistration | null;
  verified_email: string | null;
  link_id: string | null;
  browser_session_id: string | null;
  created_at: Date;
  completed_at: Date | null;
  consumed_at: Date | null;
}

/** How long an authorization round trip may take, start to finish (MAS: one hour too). */
export const SESSION_TTL_SECONDS = 3600;

/** Sessions created before this are expired. `now` comes from the application's clock, as does every session's `created_at`. */
function oldestLive(now: Date): Date {
  return new Date(now.getTime() - SESSION_TTL_SECONDS * 1000);
}

// Providers

export async function listProviders(db: Db): Promise<ProviderRow[]> {
  return db<ProviderRow[]>`SELECT * FROM upstream_oauth_providers ORDER BY ui_order, id`;
}

export async function findProvider(db: Db, id: string): Promise<ProviderRow | undefined> {
  const [row] = await db<ProviderRow[]>`SELECT * FROM upstream_oauth_providers WHERE id = ${id}`;
  return row;
}

export interface ProviderWrite {
  id: string;
  issuer: string | null;
  humanName: string | null;
  brandName: string | null;
  synapseIdpId: string | null;
  config: Record<string, unknown>;
  encryptedClientSecret: string | null;
  encryptedPrivateKey: string | null;
  uiOrder: number;
  enabled: boolean;
}

export async function upsertProvider(db: Db, p: ProviderWrite): Promise<void> {
  await db`
    INSERT INTO upstream_oauth_providers
      (id, issuer, human_name, brand_name, synapse_idp_id, config, encrypted_client_secret, encrypted_private_key, ui_order, disabled_at)
    VALUES (${p.id}, ${p.issuer}, ${p.humanName}, ${p.brandName}, ${p.synapseIdpId}, ${db.json(p.config as never)},
            ${p.encryptedClientSecret}, ${p.encryptedPrivateKey}, ${p.uiOrder}, CASE WHEN ${p.enabled} THEN NULL ELSE now() END)
    ON CONFLICT (id) DO UPDATE SET
      issuer = excluded.issuer, human_name = excluded.human_name, brand_name = excluded.brand_name,
      synapse_idp_id = excluded.synapse_idp_id, config = excluded.config,
      encrypted_client_secret = excluded.encrypted_client_secret, encrypted_private_key = excluded.encrypted_private_key,
      ui_order = excluded.ui_order, updated_at = now(),
      disabled_at = CASE WHEN ${p.enabled} THEN NULL ELSE coalesce(upstream_oauth_providers.disabled_at, now()) END`;
}

/** Arbitrary constant naming the config-sync lock among advisory locks. */
const SYNC_LOCK_KEY = 0x6d61757468_01;

/**
 * Serialises `config sync` (and instances starting together) until `tx` ends, so two of them never
 * both decide that a provider is missing and write it.
 */
export async function lockProviderSync(tx: Tx): Promise<void> {
  await tx`SELECT pg_advisory_xact_lock(${SYNC_LOCK_KEY})`;
}

export async function disableProvider(db: Db, id: string): Promise<void> {
  await db`UPDATE upstream_oauth_providers SET disabled_at = now(), updated_at = now() WHERE id = ${id} AND disabled_at IS NULL`;
}

/** Deletes the provider with its links and sessions. */
export async function deleteProvider(db: Db, id: string): Promise<void> {
  await db`DELETE FROM upstream_oauth_providers WHERE id = ${id}`;
}

// Links

export async function findLink(db: Db, providerId: string, subject: string): Promise<LinkRow | undefined> {
  const [row] = await db<LinkRow[]>`SELECT * FROM upstream_oauth_links WHERE provider_id = ${providerId} AND subject = ${subject}`;
  return row;
}

/** The new link, or undefined when the subject is already linked (to anyone). */
export async function createLink(
  db: Db,
  input: { providerId: string; subject: string; userId: string; humanAccountName?: string | null; importedEmail?: string | null },
): Promise<LinkRow | undefined> {
  const [row] = await db<LinkRow[]>`
    INSERT INTO upstream_oauth_links (id, provider_id, subject, user_id, human_account_name, imported_email)
    VALUES (${ulid()}, ${input.providerId}, ${input.subject}, ${input.userId}, ${input.humanAccountName ?? null}, ${input.importedEmail ?? null})
    ON CONFLICT (provider_id, subject) DO NOTHING
    RETURNING *`;
  return row;
}

export async function countLinksOfUser(db: Db, providerId: string, userId: string): Promise<number> {
  const [row] = await db<{ n: number }[]>`
    SELECT count(*)::int AS n FROM upstream_oauth_links WHERE provider_id = ${providerId} AND user_id = ${userId}`;
  return row.n;
}

/** The providers the user has a link to (their ways of proving who they are besides a password). */
export async function linkedProviderIdsOfUser(db: Db, userId: string): Promise<string[]> {
  const rows = await db<{ provider_id: string }[]>`
    SELECT DISTINCT provider_id FROM upstream_oauth_links WHERE user_id = ${userId} ORDER BY provider_id`;
  return rows.map((r) => r.provider_id);
}

/** When this browser session last signed in (or again) through a provider link of the user, if ever. */
export async function lastSignInOfBrowser(db: Db, browserSessionId: string, userId: string): Promise<Date | undefined> {
  const [row] = await db<{ at: Date | null }[]>`
    SELECT max(s.consumed_at) AS at FROM upstream_oauth_sessions s JOIN upstream_oauth_links l ON l.id = s.link_id
    WHERE s.browser_session_id = ${browserSessionId} AND l.user_id = ${userId}`;
  return row?.at ?? undefined;
}

/** Removes the user's links to this provider (on_conflict: replace); returns how many. */
export async function deleteLinksOfUser(db: Db, providerId: string, userId: string): Promise<number> {
  const rows = await db`DELETE FROM upstream_oauth_links WHERE provider_id = ${providerId} AND user_id = ${userId} RETURNING 1`;
  return rows.length;
}

/** Removes one link by id; false when it did not exist. */
export async function deleteLink(db: Db, id: string): Promise<boolean> {
  return (await db`DELETE FROM upstream_oauth_links WHERE id = ${id} RETURNING 1`).length === 1;
}

export async function updateLinkImports(db: Db, linkId: string, input: { humanAccountName?: string | null; importedEmail?: string | null }): Promise<void> {
  await db`
    UPDATE upstream_oauth_links SET
      human_account_name = coalesce(${input.humanAccountName ?? null}, human_account_name),
      imported_email = coalesce(${input.importedEmail ?? null}, imported_email)
    WHERE id = ${linkId}`;
}

/**
 * A forced e-mail import changed: the address this link imported before leaves the account, as
 * the provider is its source of truth. (It touches user_emails because the link owns that row.)
 */
export async function removeImportedEmail(db: Db, userId: string, email: string): Promise<void> {
  // By the address's key; one the parser cannot read (stored before addresses were checked) by
  // its ASCII lower-casing, which is how the email_key column is made. Never by lower().
  await db`DELETE FROM user_emails WHERE user_id = ${userId} AND email_key = ${emailKey(email) ?? asciiLower(email)}`;
}

// Authorization sessions

export async function createSession(db: Db, input: { providerId: string; stateHash: string; nextPath: string; now: Date }): Promise<SessionRow> {
  const [row] = await db<SessionRow[]>`
    INSERT INTO upstream_oauth_sessions (id, provider_id, state_hash, next_path, created_at)
    VALUES (${ulid()}, ${input.providerId}, ${input.stateHash}, ${input.nextPath}, ${input.now})
    RETURNING *`;
  return row;
}

export async function findSession(db: Db, id: string, now: Date): Promise<SessionRow | undefined> {
  const [row] = await db<SessionRow[]>`
    SELECT * FROM upstream_oauth_sessions
    WHERE id = ${id} AND created_at > ${oldestLive(now)}`;
  return row;
}

/** Marks the callback as arrived: only the first callback for a state gets the row back. */
export async function completeSession(db: Db, id: string, stateHash: string, now: Date): Promise<SessionRow | undefined> {
  const [row] = await db<SessionRow[]>`
    UPDATE upstream_oauth_sessions SET completed_at = ${now}
    WHERE id = ${id} AND state_hash = ${stateHash} AND completed_at IS NULL
      AND created_at > ${oldestLive(now)}
    RETURNING *`;
  return row;
}

export async function recordCallback(
  db: Db,
  id: string,
  input: {
    subject: string;
    upstreamSid?: string;
    idTokenClaims?: Record<string, unknown>;
    userinfoClaims?: Record<string, unknown>;
    extraCallbackParameters?: Record<string, unknown>;
  },
): Promise<SessionRow> {
  const json = (value: Record<string, unknown> | undefined) => (value ? db.json(value as never) : null);
  const [row] = await db<SessionRow[]>`
    UPDATE upstream_oauth_sessions SET
      subject = ${input.subject}, upstream_sid = ${input.upstreamSid ?? null},
      id_token_claims = ${json(input.idTokenClaims)}, userinfo_claims = ${json(input.userinfoClaims)},
      extra_callback_parameters = ${json(input.extraCallbackParameters)}
    WHERE id = ${id}
    RETURNING *`;
  return row;
}

export async function setPendingRegistration(db: Db, id: string, pending: PendingRegistration): Promise<void> {
  await db`UPDATE upstream_oauth_sessions SET pending_registration = ${db.json(pending as never)} WHERE id = ${id} AND consumed_at IS NULL`;
}

/**
 * Records that the browser proved `email` during this session (the mailed-code step). The code
 * went to the pending address as stored, so both sides lower their ASCII letters only: lower()
 * would let a look-alike stand in for it.
 */
export async function markEmailVerified(db: Db, id: string, email: string): Promise<boolean> {
  const rows = await db`
    UPDATE upstream_oauth_sessions SET verified_email = ${email}
    WHERE id = ${id} AND consumed_at IS NULL AND completed_at IS NOT NULL
      AND translate(pending_registration ->> 'email', 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz') = ${asciiLower(email)}
    RETURNING 1`;
  return rows.length > 0;
}

/** Uses the session up (once): it signed a browser in through `linkId`. */
export async function consumeSession(db: Db, id: string, input: { linkId: string; browserSessionId: string; now: Date }): Promise<boolean> {
  const rows = await db`
    UPDATE upstream_oauth_sessions SET consumed_at = ${input.now}, link_id = ${input.linkId}, browser_session_id = ${input.browserSessionId}
    WHERE id = ${id} AND consumed_at IS NULL AND completed_at IS NOT NULL
      AND created_at > ${oldestLive(input.now)}
    RETURNING 1`;
  return rows.length > 0;
}

/** Sessions that signed a browser in for this ID token `sub` and/or upstream `sid` (back-channel logout). */
export async function sessionsForLogout(
  db: Db,
  providerId: string,
  match: { subject?: string; sid?: string },
): Promise<(SessionRow & { user_id: string })[]> {
  // A logout token names a subject or a session; one naming neither must match nothing.
  if (!match.subject && !match.sid) return [];
  return db<(SessionRow & { user_id: string })[]>`
    SELECT s.*, l.user_id FROM upstream_oauth_sessions s JOIN upstream_oauth_links l ON l.id = s.link_id
    WHERE s.provider_id = ${providerId} AND s.consumed_at IS NOT NULL
      AND (${match.sid ?? null}::text IS NULL OR s.upstream_sid = ${match.sid ?? null})
      AND (${match.subject ?? null}::text IS NULL OR s.id_token_claims ->> 'sub' = ${match.subject ?? null})`;
}

/** Every signed-in browser of the user (back-channel `logout_all`). */
export async function activeBrowserSessionIdsOfUser(db: Db, userId: string): Promise<string[]> {
  const rows = await db<{ id: string }[]>`SELECT id FROM browser_sessions WHERE user_id = ${userId} AND finished_at IS NULL`;
  return rows.map((r) => r.id);
}

/** Records a logout token's jti; false when it was seen before (a replay). */
export async function rememberLogoutToken(db: Db, providerId: string, jti: string): Promise<boolean> {
  const rows = await db`
    INSERT INTO upstream_logout_tokens (jti_hash, provider_id) VALUES (${hashSecret(`${providerId}:${jti}`)}, ${providerId})
    ON CONFLICT (jti_hash) DO NOTHING RETURNING 1`;
  return rows.length === 1;
}
