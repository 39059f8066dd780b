// The session phases of `mauth syn2mas migrate`: Synapse's devices become legacy (compat)
// sessions, their access tokens and refresh tokens the sessions' tokens, hashed. A client keeps
// its tokens: Synapse introspects them at Mauth, which finds them by hash (`syt_…`, `syr_…` and
// old macaroons are legacy tokens, see domain/tokens.ts), with the same device.
import { isValidCompatDeviceId } from '../domain/scopes.js';
import { hashSecret } from '../domain/tokens.js';
import type { StagedTable } from '../storage/bulk-import.js';
import type { Tx } from '../storage/db.js';
import * as source from '../storage/synapse-source.js';
import type { IdFactory } from './ids.js';
import type { Progress } from './progress.js';
import type { Staging } from './staging.js';
import { prefetch } from './prefetch.js';

export interface MigratedUser {
  id: string;
  admin: boolean;
  deactivated: boolean;
}

export interface MigrationState {
  now: Date;
  batch: number;
  ids: IdFactory;
  /** Synapse user id → the migrated account; users not migrated are absent. */
  users: Map<string, MigratedUser>;
  /** `<account id>\n<device id>` → the legacy session holding it. */
  sessions: Map<string, string>;
  /** Rows written per table, for the final consistency check. */
  expected: Partial<Record<StagedTable, number>>;
  staging: Staging;
  progress: Progress;
}

export function counted(state: MigrationState, table: StagedTable): void {
  state.expected[table] = (state.expected[table] ?? 0) + 1;
}

/** Devices of migrated, active users; a deactivated user's devices were logged out by Synapse. */
export async function migrateDevices(state: MigrationState, tx: Tx, estimate: number): Promise<void> {
  const phase = state.progress.start('devices', estimate);
  await state.staging.phase(async (writer) => {
    for await (const batch of prefetch(source.readDevices(tx, state.batch))) {
      for (const device of batch) {
        const user = state.users.get(device.user_id);
        if (!user) phase.skip('of users not migrated');
        else if (user.deactivated) phase.skip('of deactivated users');
        // Written into introspection answers as a scope token: an id that is not one never worked.
        else if (!isValidCompatDeviceId(device.device_id)) phase.skip('with an id that cannot be a scope');
        else {
          const id = state.ids.next(state.now);
          state.sessions.set(`${user.id}\n${device.device_id}`, id);
          await writer.add('compat_sessions', {
            id,
            user_id: user.id,
            device_id: device.device_id,
            is_synapse_admin: user.admin,
            user_agent: device.user_agent,
            created_at: state.now,
            last_active_at: device.last_seen,
            finished_at: null,
          });
          counted(state, 'compat_sessions');
          phase.add();
        }
      }
    }
  });
}

function sessionOf(state: MigrationState, userId: string, deviceId: string | null): string | undefined {
  const user = state.users.get(userId);
  return user && deviceId !== null ? state.sessions.get(`${user.id}\n${deviceId}`) : undefined;
}

/** Access tokens without a refresh token. One without a device cannot be a legacy session. */
export async function migrateAccessTokens(state: MigrationState, tx: Tx, estimate: number): Promise<void> {
  const phase = state.progress.start('access tokens', estimate);
  await state.staging.phase(async (writer) => {
    for await (const batch of prefetch(source.readAccessTokens(tx, state.batch))) {
      for (const token of batch) {
        const sessionId = sessionOf(state, token.user_id, token.device_id);
        if (token.device_id === null) phase.skip('without a device');
        else if (!sessionId) phase.skip('of devices not migrated');
        else {
          await writer.add('compat_access_tokens', {
            id: state.ids.next(state.now),
            session_id: sessionId,
            token_hash: hashSecret(token.token),
            created_at: token.last_validated ?? state.now,
            expires_at: token.valid_until,
            revoked_at: null,
          });
          counted(state, 'compat_access_tokens');
          phase.add();
        }
      }
    }
  });
}

/** Access tokens with the refresh token that replaces them. */
export async function migrateTokenPairs(state: MigrationState, tx: Tx, estimate: number): Promise<void> {
  const phase = state.progress.start('refresh tokens', estimate);
  await state.staging.phase(async (writer) => {
    for await (const batch of prefetch(source.readTokenPairs(tx, state.batch))) {
      for (const pair of batch) {
        const sessionId = sessionOf(state, pair.user_id, pair.device_id);
        if (!sessionId) {
          phase.skip('of devices not migrated');
          continue;
        }
        const createdAt = pair.last_validated ?? state.now;
        const accessTokenId = state.ids.next(createdAt);
        await writer.add('compat_access_tokens', {
          id: accessTokenId,
          session_id: sessionId,
          token_hash: hashSecret(pair.access_token),
          created_at: createdAt,
          expires_at: pair.valid_until,
          revoked_at: null,
        });
        await writer.add('compat_refresh_tokens', {
          id: state.ids.next(createdAt),
          session_id: sessionId,
          token_hash: hashSecret(pair.refresh_token),
          access_token_id: accessTokenId,
          created_at: createdAt,
          consumed_at: null,
          revoked_at: null,
        });
        counted(state, 'compat_access_tokens');
        counted(state, 'compat_refresh_tokens');
        phase.add();
      }
    }
  });
}
