// The provider a step names, as `config sync` stored it, with its secrets unsealed.
import type { AppContext } from '../../context.js';
import type { ClaimsImports } from '../../config/types.js';
import * as upstream from '../../storage/upstream.js';
import { providerFromRow, type UpstreamClientProvider } from '../../upstream/stored-provider.js';
import { RouteError } from '../../web/errors.js';
import { msg } from '../../web/i18n.js';
import { misconfigured } from './errors.js';

export async function loadProvider(app: AppContext, id: string): Promise<UpstreamClientProvider> {
  const row = /^[0-9A-Za-z]{26}$/.test(id) ? await upstream.findProvider(app.sql, id.toUpperCase()) : undefined;
  if (!row || row.disabled_at) {
    throw new RouteError(404, 'unknown_provider', msg('errors.upstream.unknown_provider'), { title: msg('errors.upstream.unknown_provider_title') });
  }
  try {
    return await providerFromRow(app.config, row);
  } catch (err) {
    app.log.error({ err, upstream_provider_id: row.id }, 'cannot decrypt the stored secrets of an upstream provider (did secrets.encryption change? run `mauth config sync`)');
    throw misconfigured();
  }
}

export function claimsImports(provider: UpstreamClientProvider): ClaimsImports {
  return provider.config.claims_imports as ClaimsImports;
}
