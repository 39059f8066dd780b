// `mauth config sync` for the static clients (`clients`). Every instance reads them from its
// configuration, so there is nothing to write; what the database does hold is what they were
// given: grants, client_credentials tokens (which have no grant) and the personal sessions they
// created through the admin API. A client removed from the configuration leaves those working
// (its grants' access tokens still introspect, its client_credentials tokens still reach the
// admin API until they expire, its personal sessions for ever): `--prune` ends them all, as MAS
// deletes the client with its sessions and personal sessions; otherwise they are reported. A
// client counts as removed when it is neither configured nor registered.
import type { Config } from '../config/types.js';
import type { Sql } from '../storage/db.js';
import * as payloads from '../storage/oidc-payloads.js';
import * as personalSessions from '../storage/personal-sessions.js';
import { grantDestroyer } from './grants.js';

export interface ClientGrants {
  clientId: string;
  /** OAuth 2.0 sessions (grants) it holds. */
  grants: number;
  /** Live client_credentials tokens. */
  tokens: number;
  /** Live personal sessions it owns. */
  personalSessions: number;
}

export interface StaticClientsResult {
  configured: ClientGrants[];
  /** Configured ids that a registered client holds too: the configured one wins. */
  shadowing: string[];
  /** What clients that no longer exist still hold (left as it is unless pruned). */
  orphaned: ClientGrants[];
  /** With `prune` (and not `dryRun`): the grants, tokens and personal sessions ended. */
  ended: number;
}

export async function syncStaticClients(
  sql: Sql,
  config: Config,
  options: { prune?: boolean; dryRun?: boolean; now?: Date } = {},
): Promise<StaticClientsResult> {
  const now = options.now ?? new Date();
  const grants = await payloads.grantCountsByClient(sql);
  const tokens = await payloads.clientCredentialsCountsByClient(sql, now);
  const personal = await personalSessions.liveCountsByOwnerClient(sql);
  const holding = (clientId: string): ClientGrants => ({
    clientId,
    grants: grants.get(clientId) ?? 0,
    tokens: tokens.get(clientId) ?? 0,
    personalSessions: personal.get(clientId) ?? 0,
  });
  const configuredIds = config.clients.map((c) => c.client_id);
  const configured = new Set(configuredIds);
  const others = [...new Set([...grants.keys(), ...tokens.keys(), ...personal.keys()])].filter((id) => !configured.has(id));
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
      ended += await sql.begin(
        async (tx) => (await payloads.deleteClientCredentialsOfClient(tx, clientId)) + (await personalSessions.revokeAllOwnedByClient(tx, clientId, now)),
      );
    }
  }
  return {
    configured: configuredIds.map(holding),
    shadowing: configuredIds.filter((id) => registered.has(id)),
    orphaned: orphaned.map(holding),
    ended,
  };
}
