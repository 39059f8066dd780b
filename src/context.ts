// What request handlers and jobs share: configuration, the database, the homeserver, the clock
// and randomness.
import type { Logger } from 'pino';
import type { Clock, Randomness } from './clock.js';
import type { Config } from './config/types.js';
import type { HomeserverConnection } from './homeserver/connection.js';
import type { Sql } from './storage/db.js';

export interface AppContext {
  config: Config;
  sql: Sql;
  homeserver: HomeserverConnection;
  log: Logger;
  clock: Clock;
  random: Randomness;
}
