// `mauth config sync` for the static clients (`clients`). Every instance reads them from its
// configuration, so there is nothing to write; what the database does hold is their grants. A
// client removed from the configuration leaves grants whose access tokens would still
// introspect: `--prune` ends them (as MAS deletes the client with its sessions), otherwise they
// are reported. A grant counts as orphaned when its client is neither configured nor registered.
import type { Config } from '../config/types.js';
import type { Sql } from '../storage/db.js';
import * as payloads from '../storage/oidc-payloads.js';
import { grantDestroyer } from './grants.js';

export interface ClientGrants {
  clientId: string;
  /** OAuth 2.0 sessions (grants) it holds. */
  grants: number;
}

export interface StaticClientsResult {
  configured: ClientGrants[];
  /** Configured ids that a registered client holds too: the configured one wins. */
  shadowing: string[];
  /** Grants of clients that no longer exist (left as they are unless pruned). */
  orphaned: ClientGrants[];
  /** With `prune` (and not `dryRun`): the grants ended. */
  ended: number;
}

export async function syncStaticClients(sql: Sql, config: Config, options: { prune?: boolean; dryRun?: boolean } = {}): Promise<StaticClientsResult> {
  const counts = await payloads.grantCountsByClient(sql);
  const configuredIds = config.clients.map((c) => c.client_id);
  const configured = new Set(configuredIds);
  const others = [...counts.keys()].filter((id) => !configured.has(id));
  const registered = new Set(await payloads.registeredClientIds(sql, [...configuredIds, ...others]));
  const orphaned = others.filter((id) => !registered.has(id)).sort();
  let ended = 0;
  if (options.prune && !options.dryRun) {
    const destroy = grantDestroyer(sql);
    for (const clientId of orphaned) {
      for (const grantId of await payloads.grantIdsOfClient(sql, clientId)) {
        await destroy(grantId);
        ended += 1;
      }
    }
  }
  return {
    configured: configuredIds.map((clientId) => ({ clientId, grants: counts.get(clientId) ?? 0 })),
    shadowing: configuredIds.filter((id) => registered.has(id)),
    orphaned: orphaned.map((clientId) => ({ clientId, grants: counts.get(clientId) ?? 0 })),
    ended,
  };
}
