// An upstream provider as `config sync` stored it, with its secrets unsealed: what the client
// code (client-auth.ts, metadata.ts, client.ts) works with.
import type { AppContext } from '../context.js';
import type { Config, UpstreamProvider } from '../config/types.js';
import { unseal } from '../domain/seal.js';
import type { ProviderRow } from '../storage/upstream.js';

/** What talking to a provider needs: the configuration, the time (assertions, caches) and randomness (state, nonce, PKCE). */
export type UpstreamContext = Pick<AppContext, 'config' | 'clock' | 'random'>;

export interface UpstreamClientProvider {
  id: string;
  row: ProviderRow;
  config: UpstreamProvider;
  clientSecret?: string;
  applePrivateKey?: string;
}

/** Throws when a secret was sealed under another key (secrets.encryption changed). */
export async function providerFromRow(config: Config, row: ProviderRow): Promise<UpstreamClientProvider> {
  const key = config.secrets.encryption;
  return {
    id: row.id,
    row,
    config: row.config as unknown as UpstreamProvider,
    clientSecret: row.encrypted_client_secret ? await unseal(key, row.encrypted_client_secret) : undefined,
    applePrivateKey: row.encrypted_private_key ? await unseal(key, row.encrypted_private_key) : undefined,
  };
}
