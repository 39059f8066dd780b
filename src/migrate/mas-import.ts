// `mauth import-mas`: a running MAS's accounts, clients and live sessions into Mauth, read in one
// snapshot of MAS's database and staged phase by phase, then moved in one transaction
// (staging.ts). Ids are kept (users keep their `sub`, clients their `client_id`), passwords keep
// their hash and scheme version, tokens are stored by hash (personal tokens by the hash MAS kept).
// Not carried over: guests (Mauth has none), authorizations in progress, and browser sign-ins:
// MAS's session cookie means nothing to Mauth, so its browser sessions are kept as ended ones and
// browsers sign in again (apps keep their sessions).
import type { Clock } from '../clock.js';
import type { Config } from '../config/types.js';
import { parseEmailAddress } from '../domain/email-address.js';
import { hashSecret } from '../domain/tokens.js';
import { sealClientSecret } from '../oidc/stored-payloads.js';
import type { StagedTable } from '../storage/bulk-import.js';
import type { Sql, Tx } from '../storage/db.js';
import * as source from '../storage/mas-source.js';
import { IdFactory, fromUuid } from './ids.js';
import { clientPayload } from './mas-clients.js';
import { decryptMasSecret } from './mas-secrets.js';
import { counted, importCompatSessions, importOAuthSessions, importOAuthTokens, importPersonalSessions, type ImportState } from './mas-sessions.js';
import type { PhaseResult, Progress } from './progress.js';
import type { Staging } from './staging.js';
import { prefetch } from './prefetch.js';

export interface ImportMasInput {
  config: Config;
  mas: Sql;
  staging: Staging;
  progress: Progress;
  dryRun: boolean;
  clock: Clock;
  prepare?: (tx: Tx) => Promise<void>;
  batch?: number;
}

async function importUsers(state: ImportState, tx: Tx): Promise<void> {
  const phase = state.progress.start('users', 0);
  await state.staging.phase(async (writer) => {
    for await (const batch of prefetch(source.readUsers(tx, state.batch))) {
      for (const user of batch) {
        if (user.is_guest) phase.skip('guests');
        else if (user.username !== user.username.toLowerCase()) phase.skip('with upper-case names');
        else {
          const id = fromUuid(user.user_id);
          state.users.set(user.user_id, { id, deactivated: user.deactivated_at !== null });
          await writer.add('users', {
            id, username: user.username, display_name: null, can_request_admin: user.can_request_admin,
            locked_at: user.locked_at, deactivated_at: user.deactivated_at, created_at: user.created_at,
          });
          counted(state, 'users');
          phase.add();
        }
      }
    }
  });
}

/** Passwords, e-mail addresses (MAS keeps only confirmed ones), other third-party ids, upstream links. */
async function importCredentials(state: ImportState, tx: Tx): Promise<void> {
  const passwords = state.progress.start('passwords', 0);
  await state.staging.phase(async (writer) => {
    for await (const batch of prefetch(source.readPasswords(tx, state.batch))) {
      for (const p of batch) {
        const user = state.users.get(p.user_id);
        if (!user) passwords.skip('of users not imported');
        else {
          await writer.add('user_passwords', { id: state.ids.next(p.created_at), user_id: user.id, hashed_password: p.hashed_password, version: p.version, created_at: p.created_at });
          counted(state, 'user_passwords');
          passwords.add();
        }
      }
    }
  });
  const emails = state.progress.start('e-mail addresses', 0);
  const seen = new Set<string>();
  await state.staging.phase(async (writer) => {
    for await (const batch of prefetch(source.readEmails(tx, state.batch))) {
      for (const e of batch) {
        const user = state.users.get(e.user_id);
        const parsed = parseEmailAddress(e.email);
        if (!user) emails.skip('of users not imported');
        else if (!parsed.ok) emails.skip('that are not one e-mail address');
        else if (seen.has(`${user.id}\n${parsed.value.key}`)) emails.skip('duplicates');
        else {
          seen.add(`${user.id}\n${parsed.value.key}`);
          await writer.add('user_emails', { id: state.ids.next(e.created_at), user_id: user.id, email: parsed.value.address, verified_at: e.created_at, created_at: e.created_at });
          counted(state, 'user_emails');
          emails.add();
        }
      }
    }
    for await (const batch of prefetch(source.readThreepids(tx, state.batch))) {
      for (const t of batch) {
        const user = state.users.get(t.user_id);
        if (!user) emails.skip('third-party ids of users not imported');
        else {
          await writer.add('user_threepids', { id: state.ids.next(t.created_at), user_id: user.id, medium: t.medium, address: t.address, created_at: t.created_at });
          counted(state, 'user_threepids');
        }
      }
    }
  });
  const links = state.progress.start('upstream links', 0);
  const providers = new Set(state.config.upstream_oauth2.providers.map((p) => p.id));
  await state.staging.phase(async (writer) => {
    for await (const batch of prefetch(source.readLinks(tx, state.batch))) {
      for (const link of batch) {
        const user = state.users.get(link.user_id);
        const providerId = fromUuid(link.upstream_oauth_provider_id);
        if (!user) links.skip('of users not imported');
        else if (!providers.has(providerId)) links.skip('of providers not configured');
        else {
          await writer.add('upstream_oauth_links', {
            id: fromUuid(link.upstream_oauth_link_id), provider_id: providerId, subject: link.subject, user_id: user.id,
            human_account_name: link.human_account_name, created_at: link.created_at,
          });
          counted(state, 'upstream_oauth_links');
          links.add();
        }
      }
    }
  });
}

/** Registered clients, their secrets decrypted with MAS's key and sealed with Mauth's (the same key). */
async function importClients(state: ImportState, tx: Tx): Promise<void> {
  const phase = state.progress.start('clients', 0);
  for (const client of state.config.clients) state.clients.add(client.client_id);
  await state.staging.phase(async (writer) => {
    for (const client of await source.readDynamicClients(tx)) {
      const payload = clientPayload(client, state.now, { deviceCodeGrant: state.config.oauth.device_code_grant_enabled });
      const secret = client.encrypted_client_secret ? decryptMasSecret(state.config.secrets.encryption, client.encrypted_client_secret) : undefined;
      if (secret !== undefined) payload.client_secret = await sealClientSecret(state.config.secrets.encryption, secret);
      const id = payload.client_id as string;
      state.clients.add(id);
      await writer.add('oidc_payloads', {
        model: 'Client', id, payload, grant_id: null, account_id: null, expires_at: null, consumed_at: null, used_at: null, scope: null,
        created_at: client.created_at ?? state.now,
      });
      counted(state, 'oidc_payloads');
      phase.add();
    }
  });
}

/** Browser sessions (kept, ended: see the header) and registration tokens. */
async function importBrowserSessionsAndTokens(state: ImportState, tx: Tx): Promise<void> {
  const phase = state.progress.start('browser sessions', 0);
  await state.staging.phase(async (writer) => {
    for await (const batch of prefetch(source.readBrowserSessions(tx, state.batch))) {
      for (const s of batch) {
        const user = state.users.get(s.user_id);
        if (!user) phase.skip('of users not imported');
        else {
          await writer.add('browser_sessions', {
            // A secret nobody holds: the row cannot be signed in with.
            id: fromUuid(s.user_session_id), secret_hash: hashSecret(`mas-import:${state.ids.next(state.now)}:${s.user_session_id}`),
            user_id: user.id, user_agent: s.user_agent, ip_address: s.last_active_ip, created_at: s.created_at,
            last_authenticated_at: s.last_authenticated_at ?? s.created_at, finished_at: s.finished_at ?? state.now, last_active_at: s.last_active_at,
          });
          counted(state, 'browser_sessions');
          phase.add();
        }
      }
    }
  });
  const tokens = state.progress.start('registration tokens', 0);
  await state.staging.phase(async (writer) => {
    for (const t of await source.readRegistrationTokens(tx)) {
      await writer.add('user_registration_tokens', {
        id: state.ids.next(t.created_at), token_hash: hashSecret(t.token), usage_limit: t.usage_limit, times_used: t.times_used,
        created_at: t.created_at, last_used_at: t.last_used_at, expires_at: t.expires_at, revoked_at: t.revoked_at,
      });
      counted(state, 'user_registration_tokens');
      tokens.add();
    }
  });
}

export async function importFromMas(input: ImportMasInput): Promise<{ phases: PhaseResult[]; moved: Record<StagedTable, number> }> {
  const state: ImportState = {
    config: input.config,
    now: input.clock.now(),
    batch: input.batch ?? 10_000,
    ids: new IdFactory(),
    staging: input.staging,
    progress: input.progress,
    expected: {},
    users: new Map(),
    clients: new Set(),
    grants: new Map(),
    compatSessions: new Map(),
    compatAccessTokens: new Map(),
  };
  await source.snapshot(input.mas, async (tx) => {
    await importUsers(state, tx);
    await importCredentials(state, tx);
    await importClients(state, tx);
    await importOAuthSessions(state, tx);
    await importOAuthTokens(state, tx);
    await importCompatSessions(state, tx);
    await importPersonalSessions(state, tx);
    await importBrowserSessionsAndTokens(state, tx);
  });
  input.progress.note(input.dryRun ? 'moving the staged rows into Mauth (dry run: rolled back)' : "moving the staged rows into Mauth's tables");
  const moved = await input.staging.commit({ dryRun: input.dryRun, prepare: input.prepare, expected: state.expected });
  return { phases: input.progress.phases(), moved };
}
