// The channel on which the database announces changes that can make an access token inactive
// (the triggers of migrations/20261130140200_introspection_invalidation.sql), and the dedicated
// connection an instance listens on.
import type { DatabaseConfig } from '../config/types.js';
import { connect } from './db.js';

export const INVALIDATION_CHANNEL = 'mauth_introspection';

/** How the listening connection shows in pg_stat_activity. */
export const LISTENER_APPLICATION_NAME = 'mauth introspection listener';

export interface InvalidationConnection {
  /** (Re)opens the connection if needed and LISTENs; resolves once notifications flow. */
  listen(): Promise<void>;
  close(): Promise<void>;
}

/**
 * A connection of its own (never the request pool's): `onInvalidation` receives each payload
 * (`token:<hash>`, `user:<id>`, …), `onLost` is called whenever the connection closes, after
 * which nothing is heard until `listen()` succeeds again.
 */
export async function openInvalidationConnection(
  config: DatabaseConfig,
  handlers: { onInvalidation(payload: string): void; onLost(): void },
): Promise<InvalidationConnection> {
  const db = await connect(config, {
    listener: {
      applicationName: LISTENER_APPLICATION_NAME,
      onNotify: (channel, payload) => {
        if (channel === INVALIDATION_CHANNEL) handlers.onInvalidation(payload);
      },
      onClose: handlers.onLost,
    },
  });
  return {
    async listen() {
      await db.sql`LISTEN mauth_introspection`;
    },
    close: () => db.close(),
  };
}
