// The session phases of `mauth import-mas`. A live OAuth 2.0 session of MAS becomes what
// oidc-provider would have saved for it at Mauth: a grant with the consented scope, its live
// access and refresh tokens (stored by hash, as the adapter stores them), and the OAuth 2.0
// session row holding its device. A client then refreshes its MAS refresh token at Mauth as it
// did at MAS. Legacy (compat) sessions keep their tokens the same way.
import type { Config } from '../config/types.js';
import { deviceOf, parseScope } from '../domain/scopes.js';
import { hashSecret } from '../domain/tokens.js';
import { accessTokenPayload, grantPayload, refreshTokenPayload, type GrantFacts } from '../oidc/stored-payloads.js';
import type { StagedTable } from '../storage/bulk-import.js';
import type { Tx } from '../storage/db.js';
import * as source from '../storage/mas-source.js';
import { fromUuid, type IdFactory } from './ids.js';
import type { Progress } from './progress.js';
import type { Staging } from './staging.js';
import { prefetch } from './prefetch.js';

export interface ImportState {
  config: Config;
  now: Date;
  batch: number;
  ids: IdFactory;
  staging: Staging;
  progress: Progress;
  expected: Partial<Record<StagedTable, number>>;
  /** MAS user UUID → the imported account. */
  users: Map<string, { id: string; deactivated: boolean }>;
  /** Client ids sessions may belong to: imported registered clients and configured ones. */
  clients: Set<string>;
  /** MAS OAuth 2.0 session UUID → its grant at Mauth. */
  grants: Map<string, GrantFacts>;
  /** MAS compat session UUID → Mauth's session id. */
  compatSessions: Map<string, string>;
  /** MAS compat access token UUID → its id at Mauth and its session. */
  compatAccessTokens: Map<string, { id: string; sessionId: string }>;
}

export function counted(state: ImportState, table: StagedTable): void {
  state.expected[table] = (state.expected[table] ?? 0) + 1;
}

function liveUser(state: ImportState, userUuid: string): { id: string } | 'missing' | 'deactivated' {
  const user = state.users.get(userUuid);
  if (!user) return 'missing';
  return user.deactivated ? 'deactivated' : user;
}

export async function importOAuthSessions(state: ImportState, tx: Tx): Promise<void> {
  const phase = state.progress.start('OAuth 2.0 sessions', 0);
  await state.staging.phase(async (writer) => {
    for await (const batch of prefetch(source.readOAuthSessions(tx, state.batch))) {
      for (const session of batch) {
        const user = liveUser(state, session.user_id);
        const clientId = fromUuid(session.oauth2_client_id);
        if (user === 'missing') phase.skip('of users not imported');
        else if (user === 'deactivated') phase.skip('of deactivated users');
        else if (!state.clients.has(clientId)) phase.skip('of clients not imported');
        else {
          const id = fromUuid(session.oauth2_session_id);
          const scope = session.scope_list.join(' ');
          const grant: GrantFacts = { grantId: id, accountId: user.id, clientId, scope, createdAt: session.created_at, now: state.now };
          state.grants.set(session.oauth2_session_id, grant);
          const stored = grantPayload(grant);
          await writer.add('oidc_payloads', {
            model: 'Grant', id, payload: stored.payload, grant_id: null, account_id: user.id, expires_at: stored.expiresAt,
            consumed_at: null, used_at: null, scope: null, created_at: session.created_at,
          });
          counted(state, 'oidc_payloads');
          await writer.add('oauth2_sessions', {
            id, grant_id: id, user_id: user.id, client_id: clientId, device_id: deviceOf(parseScope(scope)) ?? null, scope,
            created_at: session.created_at, last_active_at: session.last_active_at, finished_at: null,
          });
          counted(state, 'oauth2_sessions');
          phase.add();
        }
      }
    }
  });
}

/** Live access tokens (so requests in flight keep working) and refresh tokens of imported sessions. */
export async function importOAuthTokens(state: ImportState, tx: Tx): Promise<void> {
  for (const model of ['AccessToken', 'RefreshToken'] as const) {
    const phase = state.progress.start(model === 'AccessToken' ? 'OAuth 2.0 access tokens' : 'OAuth 2.0 refresh tokens', 0);
    const rows = model === 'AccessToken' ? source.readOAuthAccessTokens(tx, state.batch, state.now) : source.readOAuthRefreshTokens(tx, state.batch);
    await state.staging.phase(async (writer) => {
      for await (const batch of prefetch(rows)) {
        for (const token of batch) {
          const grant = state.grants.get(token.oauth2_session_id);
          if (!grant) {
            phase.skip('of sessions not imported');
            continue;
          }
          const expires = token.expires_at ?? new Date(state.now.getTime() + state.config.experimental.access_token_ttl * 1000);
          const stored = model === 'AccessToken' ? accessTokenPayload(grant, token.created_at, expires) : refreshTokenPayload(grant, token.created_at);
          await writer.add('oidc_payloads', {
            model, id: hashSecret(token.token), payload: stored.payload, grant_id: grant.grantId, account_id: grant.accountId,
            expires_at: stored.expiresAt, consumed_at: null, used_at: token.first_used_at, scope: grant.scope, created_at: token.created_at,
          });
          counted(state, 'oidc_payloads');
          phase.add();
        }
      }
    });
  }
}

export async function importCompatSessions(state: ImportState, tx: Tx): Promise<void> {
  const sessions = state.progress.start('compat sessions', 0);
  await state.staging.phase(async (writer) => {
    for await (const batch of prefetch(source.readCompatSessions(tx, state.batch))) {
      for (const session of batch) {
        const user = liveUser(state, session.user_id);
        if (user === 'missing') sessions.skip('of users not imported');
        else if (user === 'deactivated') sessions.skip('of deactivated users');
        else {
          const id = fromUuid(session.compat_session_id);
          state.compatSessions.set(session.compat_session_id, id);
          await writer.add('compat_sessions', {
            id, user_id: user.id, device_id: session.device_id, is_synapse_admin: session.is_synapse_admin,
            user_agent: session.user_agent, created_at: session.created_at, last_active_at: session.last_active_at, finished_at: null,
          });
          counted(state, 'compat_sessions');
          sessions.add();
        }
      }
    }
  });
  const access = state.progress.start('compat access tokens', 0);
  await state.staging.phase(async (writer) => {
    for await (const batch of prefetch(source.readCompatAccessTokens(tx, state.batch))) {
      for (const token of batch) {
        const sessionId = state.compatSessions.get(token.compat_session_id);
        if (!sessionId) access.skip('of sessions not imported');
        else {
          const id = fromUuid(token.compat_access_token_id);
          state.compatAccessTokens.set(token.compat_access_token_id, { id, sessionId });
          await writer.add('compat_access_tokens', {
            id, session_id: sessionId, token_hash: hashSecret(token.access_token), created_at: token.created_at, expires_at: token.expires_at, revoked_at: null,
          });
          counted(state, 'compat_access_tokens');
          access.add();
        }
      }
    }
  });
  const refresh = state.progress.start('compat refresh tokens', 0);
  await state.staging.phase(async (writer) => {
    for await (const batch of prefetch(source.readCompatRefreshTokens(tx, state.batch))) {
      for (const token of batch) {
        const accessToken = state.compatAccessTokens.get(token.compat_access_token_id);
        if (!accessToken) refresh.skip('of sessions not imported');
        else {
          await writer.add('compat_refresh_tokens', {
            id: state.ids.next(token.created_at), session_id: accessToken.sessionId, token_hash: hashSecret(token.refresh_token),
            access_token_id: accessToken.id, created_at: token.created_at, consumed_at: null, revoked_at: null,
          });
          counted(state, 'compat_refresh_tokens');
          refresh.add();
        }
      }
    }
  });
}

/** Personal sessions (MAS's personal access tokens) with their live token, kept by its SHA-256 as MAS kept it. */
export async function importPersonalSessions(state: ImportState, tx: Tx): Promise<void> {
  const sessions = state.progress.start('personal sessions', 0);
  const imported = new Map<string, string>();
  await state.staging.phase(async (writer) => {
    for await (const batch of prefetch(source.readPersonalSessions(tx, state.batch))) {
      for (const session of batch) {
        const actor = liveUser(state, session.actor_user_id);
        const owner = session.owner_user_id === null ? undefined : liveUser(state, session.owner_user_id);
        if (actor === 'missing' || owner === 'missing') sessions.skip('of users not imported');
        else if (actor === 'deactivated' || owner === 'deactivated') sessions.skip('of deactivated users');
        else {
          const id = fromUuid(session.personal_session_id);
          imported.set(session.personal_session_id, id);
          await writer.add('personal_sessions', {
            id, owner_user_id: owner?.id ?? null, owner_client_id: session.owner_oauth2_client_id === null ? null : fromUuid(session.owner_oauth2_client_id),
            actor_user_id: actor.id, human_name: session.human_name, scope: session.scope_list.join(' '), created_at: session.created_at,
            revoked_at: null, last_active_at: session.last_active_at,
          });
          counted(state, 'personal_sessions');
          sessions.add();
        }
      }
    }
    for await (const batch of prefetch(source.readPersonalTokens(tx, state.batch, state.now))) {
      for (const token of batch) {
        const sessionId = imported.get(token.personal_session_id);
        if (!sessionId) continue;
        await writer.add('personal_access_tokens', {
          id: fromUuid(token.personal_access_token_id), session_id: sessionId, token_hash: token.token_hash,
          created_at: token.created_at, expires_at: token.expires_at, revoked_at: null,
        });
        counted(state, 'personal_access_tokens');
      }
    }
  });
}
