// `mauth syn2mas migrate`: Synapse's accounts and sessions into Mauth, read in one snapshot of
// Synapse's database and staged phase by phase (users, third-party ids, upstream links, devices,
// access tokens, refresh tokens), then moved in one transaction (staging.ts).
//
// What becomes of a Synapse user: the local part is the username; the creation time is kept; the
// admin flag becomes `can_request_admin` (its sessions keep the Synapse admin scope); locked and
// deactivated accounts stay so. The display name stays in Synapse: nothing is sent to the
// homeserver, which has every user already. Guests and application service users are not
// migrated (as with MAS's syn2mas); nor are users Mauth cannot name (upper-case local parts).
import type { Clock } from '../clock.js';
import type { Config } from '../config/types.js';
import { parseEmailAddress } from '../domain/email-address.js';
import type { StagedTable } from '../storage/bulk-import.js';
import type { Sql, Tx } from '../storage/db.js';
import * as source from '../storage/synapse-source.js';
import { IdFactory } from './ids.js';
import type { PhaseResult, Progress } from './progress.js';
import type { Staging } from './staging.js';
import { synapseScheme } from './syn2mas-checks.js';
import { counted, migrateAccessTokens, migrateDevices, migrateTokenPairs, type MigrationState } from './syn2mas-sessions.js';
import { prefetch } from './prefetch.js';

export interface Syn2masInput {
  config: Config;
  synapse: Sql;
  staging: Staging;
  progress: Progress;
  /** Synapse's `auth_provider` → Mauth upstream provider id. */
  mappings: Map<string, string>;
  dryRun: boolean;
  clock: Clock;
  /** Runs in the moving transaction first (writes the configured upstream providers). */
  prepare?: (tx: Tx) => Promise<void>;
  /** Rows read per round trip (default 5000). */
  batch?: number;
}

export interface MigrationResult {
  phases: PhaseResult[];
  moved: Record<StagedTable, number>;
}

const BCRYPT = /^\$2[abxy]?\$\d\d\$/;

async function migrateUsers(state: MigrationState, tx: Tx, estimate: number, input: Syn2masInput): Promise<void> {
  const phase = state.progress.start('users', estimate);
  const suffix = `:${input.config.matrix.homeserver}`;
  const passwordVersion = synapseScheme(input.config)?.version;
  await state.staging.phase(async (writer) => {
    for await (const batch of prefetch(source.readUsers(tx, state.batch))) {
      for (const user of batch) {
        const localpart = user.name.startsWith('@') && user.name.endsWith(suffix) ? user.name.slice(1, -suffix.length) : undefined;
        if (localpart === undefined || localpart === '') phase.skip('of another server');
        else if (user.appservice_id !== null) phase.skip('application service users');
        else if (user.is_guest) phase.skip('guests');
        else if (localpart !== localpart.toLowerCase()) phase.skip('with upper-case names');
        else {
          const createdAt = user.created_at ?? state.now;
          const id = state.ids.next(createdAt);
          state.users.set(user.name, { id, admin: user.admin, deactivated: user.deactivated });
          await writer.add('users', {
            id,
            username: localpart,
            display_name: null,
            can_request_admin: user.admin,
            locked_at: user.locked ? state.now : null,
            deactivated_at: user.deactivated ? state.now : null,
            created_at: createdAt,
          });
          counted(state, 'users');
          if (user.password_hash && passwordVersion !== undefined && BCRYPT.test(user.password_hash)) {
            await writer.add('user_passwords', { id: state.ids.next(createdAt), user_id: id, hashed_password: user.password_hash, version: passwordVersion, created_at: createdAt });
            counted(state, 'user_passwords');
          }
          phase.add();
        }
      }
    }
  });
}

/** E-mail addresses (verified, as Synapse only keeps validated ones) and other media for username_rewrite. */
async function migrateThreepids(state: MigrationState, tx: Tx, estimate: number): Promise<void> {
  const phase = state.progress.start('third-party ids', estimate);
  const seen = new Set<string>();
  await state.staging.phase(async (writer) => {
    for await (const batch of prefetch(source.readThreepids(tx, state.batch))) {
      for (const threepid of batch) {
        const user = state.users.get(threepid.user_id);
        const createdAt = threepid.added_at ?? state.now;
        if (!user) {
          phase.skip('of users not migrated');
        } else if (threepid.medium === 'email') {
          const parsed = parseEmailAddress(threepid.address);
          if (!parsed.ok) phase.skip('that are not one e-mail address');
          else if (seen.has(`email\n${user.id}\n${parsed.value.key}`)) phase.skip('duplicates');
          else {
            seen.add(`email\n${user.id}\n${parsed.value.key}`);
            await writer.add('user_emails', { id: state.ids.next(createdAt), user_id: user.id, email: parsed.value.address, verified_at: threepid.validated_at ?? createdAt, created_at: createdAt });
            counted(state, 'user_emails');
            phase.add();
          }
        } else if (seen.has(`${threepid.medium}\n${threepid.address.toLowerCase()}`)) {
          phase.skip('duplicates');
        } else {
          seen.add(`${threepid.medium}\n${threepid.address.toLowerCase()}`);
          await writer.add('user_threepids', { id: state.ids.next(createdAt), user_id: user.id, medium: threepid.medium, address: threepid.address, created_at: createdAt });
          counted(state, 'user_threepids');
          phase.add();
        }
      }
    }
  });
}

/** user_external_ids → links to the upstream provider each Synapse provider is mapped to. */
async function migrateLinks(state: MigrationState, tx: Tx, estimate: number, mappings: Map<string, string>): Promise<void> {
  const phase = state.progress.start('upstream links', estimate);
  await state.staging.phase(async (writer) => {
    for await (const batch of prefetch(source.readExternalIds(tx, state.batch))) {
      for (const external of batch) {
        const user = state.users.get(external.user_id);
        const providerId = mappings.get(external.auth_provider);
        if (!user) phase.skip('of users not migrated');
        else if (!providerId) phase.skip('of unmapped providers');
        else {
          await writer.add('upstream_oauth_links', {
            id: state.ids.next(state.now),
            provider_id: providerId,
            subject: external.external_id,
            user_id: user.id,
            human_account_name: null,
            created_at: state.now,
          });
          counted(state, 'upstream_oauth_links');
          phase.add();
        }
      }
    }
  });
}

export async function migrateFromSynapse(input: Syn2masInput): Promise<MigrationResult> {
  const state: MigrationState = {
    now: input.clock.now(),
    batch: input.batch ?? 10_000,
    ids: new IdFactory(),
    users: new Map(),
    sessions: new Map(),
    expected: {},
    staging: input.staging,
    progress: input.progress,
  };
  // A dry run may run beside a live Synapse: shared locks only. A real one locks out writers.
  await source.snapshot(input.synapse, !input.dryRun, async (tx) => {
    const estimates = await source.estimatedCounts(tx);
    await migrateUsers(state, tx, estimates.users ?? 0, input);
    await migrateThreepids(state, tx, estimates.user_threepids ?? 0);
    await migrateLinks(state, tx, estimates.user_external_ids ?? 0, input.mappings);
    await migrateDevices(state, tx, estimates.devices ?? 0);
    await migrateAccessTokens(state, tx, Math.max(0, (estimates.access_tokens ?? 0) - (estimates.refresh_tokens ?? 0)));
    await migrateTokenPairs(state, tx, estimates.refresh_tokens ?? 0);
  });
  input.progress.note(input.dryRun ? 'moving the staged rows into Mauth (dry run: rolled back)' : "moving the staged rows into Mauth's tables");
  const moved = await input.staging.commit({ dryRun: input.dryRun, prepare: input.prepare, expected: state.expected });
  return { phases: input.progress.phases(), moved };
}
