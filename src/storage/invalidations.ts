// The channel on which the database announces changes that can make an access token inactive
// (the triggers of migrations/20261130140200_introspection_invalidation.sql), and the dedicated
// connection an instance listens on.
import type { DatabaseConfig } from '../config/types.js';
import { connect, type Database, type Db } from './db.js';

export const INVALIDATION_CHANNEL = 'mauth_introspection';

/** How the listening connection shows in pg_stat_activity. */
export const LISTENER_APPLICATION_NAME = 'mauth introspection listener';

export interface InvalidationConnection {
  /** (Re)opens the connection if needed and LISTENs; resolves once the LISTEN is in place. */
  listen(): Promise<void>;
  /**
   * Stops trusting the current connection (it may be silently dead: nothing closes a half-open
   * TCP connection): nothing more is heard from it, it is torn down in the background, and the
   * next `listen()` opens a new one. `onLost` is not called for it.
   */
  abandon(): Promise<void>;
  close(): Promise<void>;
}

/**
 * Publishes `payload` on the channel from `db` (another session than the listener's): the
 * listener hears it only if notifications of other sessions reach it.
 */
export async function announce(db: Db, payload: string): Promise<void> {
  await db`SELECT pg_notify(${INVALIDATION_CHANNEL}, ${payload})`;
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
  interface Current {
    db: Database;
    abandoned: boolean;
  }
  const open = async (): Promise<Current> => {
    const current: Current = { db: undefined as unknown as Database, abandoned: false };
    current.db = await connect(config, {
      listener: {
        applicationName: LISTENER_APPLICATION_NAME,
        onNotify: (channel, payload) => {
          if (!current.abandoned && channel === INVALIDATION_CHANNEL) handlers.onInvalidation(payload);
        },
        onClose: () => {
          if (!current.abandoned) handlers.onLost();
        },
      },
    });
    return current;
  };
  let current = await open();
  return {
    async listen() {
      await current.db.sql`LISTEN mauth_introspection`;
    },
    async abandon() {
      const old = current;
      old.abandoned = true;
      current = await open();
      // Not awaited: over a dead connection the goodbye may never be answered.
      void old.db.sql.end({ timeout: 0 }).catch(() => {});
    },
    async close() {
      current.abandoned = true;
      await current.db.close();
    },
  };
}
