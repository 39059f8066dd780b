// Picks the homeserver connection for `matrix.kind`.
import type { MatrixConfig } from '../config/types.js';
import type { HomeserverConnection } from './connection.js';
import { SynapseConnection } from './synapse.js';

export { HomeserverError } from './connection.js';
export type { HomeserverConnection, LocalpartAvailability, MatrixUser, ProvisionRequest } from './connection.js';
export { SynapseConnection, DEFAULT_TIMEOUT_MS } from './synapse.js';

export interface HomeserverConnectionOptions {
  /** Per-request timeout in milliseconds (default 10 s). */
  timeoutMs?: number;
}

export function createHomeserverConnection(
  config: MatrixConfig,
  options: HomeserverConnectionOptions = {},
): HomeserverConnection {
  switch (config.kind) {
    case 'synapse':
    case 'synapse_modern':
      return new SynapseConnection({
        serverName: config.homeserver,
        endpoint: config.endpoint,
        secret: config.secret,
        timeoutMs: options.timeoutMs,
      });
    case 'synapse_legacy':
      throw new Error(
        'matrix.kind "synapse_legacy" (the Synapse admin API) is not supported yet; use "synapse" with Synapse ≥ 1.136 and its matrix_authentication_service block',
      );
    default: {
      const kind: never = config.kind;
      throw new Error(`unknown matrix.kind ${JSON.stringify(kind)}`);
    }
  }
}
