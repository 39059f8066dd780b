// `mauth config sync` (and server start): the configured upstream providers are written to the
// database, client secrets encrypted with `secrets.encryption`. Providers that are no longer
// configured are disabled, or deleted with their links under `--prune`. One advisory lock
// serialises instances that start together.
import { readFile } from 'node:fs/promises';
import type { Logger } from 'pino';
import { isDeepStrictEqual } from 'node:util';
import type { Config, UpstreamProvider } from '../config/types.js';
import type { Sql, Tx } from '../storage/db.js';
import * as upstream from '../storage/upstream.js';
import { seal, unseal } from '../domain/seal.js';

export interface SyncResult {
  created: string[];
  updated: string[];
  unchanged: string[];
  /** In the database but no longer configured: disabled (kept for their links). */
  disabled: string[];
  /** Deleted with their links (`--prune`). */
  deleted: string[];
  /** Static clients are read from the configuration by every instance; nothing to write. */
  staticClients: number;
}

interface Desired {
  write: upstream.ProviderWrite;
  clientSecret?: string;
  privateKey?: string;
}

/** The stored form of a provider: the block as configured, without its secrets. */
function storedConfig(provider: UpstreamProvider): Record<string, unknown> {
  const { client_secret: _secret, client_secret_file: _file, sign_in_with_apple: apple, ...rest } = provider;
  const stored: Record<string, unknown> = JSON.parse(JSON.stringify(rest));
  if (apple) stored.sign_in_with_apple = { team_id: apple.team_id, key_id: apple.key_id };
  return stored;
}

async function desired(provider: UpstreamProvider, index: number): Promise<Desired> {
  const apple = provider.sign_in_with_apple;
  const privateKey = apple?.private_key ?? (apple?.private_key_file ? await readFile(apple.private_key_file, 'utf8') : undefined);
  return {
    write: {
      id: provider.id,
      issuer: provider.issuer ?? null,
      humanName: provider.human_name ?? null,
      brandName: provider.brand_name ?? null,
      synapseIdpId: provider.synapse_idp_id ?? null,
      config: storedConfig(provider),
      encryptedClientSecret: null,
      encryptedPrivateKey: null,
      uiOrder: index,
      enabled: provider.enabled !== false,
    },
    clientSecret: provider.client_secret,
    privateKey,
  };
}

async function sameSecret(key: string, encrypted: string | null, plain: string | undefined): Promise<boolean> {
  if (!encrypted || plain === undefined) return !encrypted && plain === undefined;
  try {
    return (await unseal(key, encrypted)) === plain;
  } catch {
    return false; // encrypted under an older key: rewrite
  }
}

async function unchanged(key: string, row: upstream.ProviderRow, want: Desired): Promise<boolean> {
  const w = want.write;
  return (
    row.issuer === w.issuer &&
    row.human_name === w.humanName &&
    row.brand_name === w.brandName &&
    row.synapse_idp_id === w.synapseIdpId &&
    row.ui_order === w.uiOrder &&
    (row.disabled_at === null) === w.enabled &&
    isDeepStrictEqual(row.config, w.config) &&
    (await sameSecret(key, row.encrypted_client_secret, want.clientSecret)) &&
    (await sameSecret(key, row.encrypted_private_key, want.privateKey))
  );
}

/** What a server start does (unless `--no-sync`), once per start: `mauth config sync` without --prune. */
export async function syncAtStart(sql: Sql, config: Config, log: Logger): Promise<void> {
  try {
    const result = await syncProviders(sql, config);
    if (result.created.length || result.updated.length) log.info({ created: result.created, updated: result.updated }, 'upstream providers synced');
    if (result.disabled.length) {
      log.warn({ disabled: result.disabled }, 'upstream providers no longer configured were disabled; `mauth config sync --prune` deletes them and their links');
    }
  } catch (err) {
    throw new Error(`cannot sync upstream providers to the database: ${(err as Error).message}`, { cause: err });
  }
}

export async function syncProviders(sql: Sql, config: Config, options: { prune?: boolean; dryRun?: boolean } = {}): Promise<SyncResult> {
  return (await sql.begin((tx: Tx) => syncProvidersIn(tx, config, options))) as SyncResult;
}

/** The same, inside a transaction the caller holds (a migration in writes its links in it). */
export async function syncProvidersIn(tx: Tx, config: Config, options: { prune?: boolean; dryRun?: boolean } = {}): Promise<SyncResult> {
  const key = config.secrets.encryption;
  const wanted = await Promise.all(config.upstream_oauth2.providers.map(desired));
  const result: SyncResult = { created: [], updated: [], unchanged: [], disabled: [], deleted: [], staticClients: config.clients.length };
  await upstream.lockProviderSync(tx);
  const existing = new Map((await upstream.listProviders(tx)).map((row) => [row.id, row]));
  for (const want of wanted) {
    const row = existing.get(want.write.id);
    existing.delete(want.write.id);
    if (row && (await unchanged(key, row, want))) {
      result.unchanged.push(want.write.id);
      continue;
    }
    (row ? result.updated : result.created).push(want.write.id);
    if (options.dryRun) continue;
    await upstream.upsertProvider(tx, {
      ...want.write,
      encryptedClientSecret: want.clientSecret === undefined ? null : await seal(key, want.clientSecret),
      encryptedPrivateKey: want.privateKey === undefined ? null : await seal(key, want.privateKey),
    });
  }
  for (const row of existing.values()) {
    if (options.prune) {
      result.deleted.push(row.id);
      if (!options.dryRun) await upstream.deleteProvider(tx, row.id);
    } else if (row.disabled_at === null) {
      result.disabled.push(row.id);
      if (!options.dryRun) await upstream.disableProvider(tx, row.id);
    }
  }
  return result;
}
