// Starts Mauth: database (migrated unless told not to), the OIDC provider, one HTTP server per
// listener bind, and an in-process job worker unless it runs apart (`mauth worker`).
import { createServer, type Server } from 'node:http';
import type { Logger } from 'pino';
import type { Config } from '../config/types.js';
import { parseAddress } from '../config/http.js';
import type { AppContext } from '../context.js';
import { PasswordHasher } from '../accounts/passwords.js';
import { createHomeserverConnection } from '../homeserver/index.js';
import { homeserverJobHandlers } from '../jobs/homeserver-jobs.js';
import { accountJobHandlers } from '../jobs/account-jobs.js';
import { emailJobHandlers } from '../jobs/mail.js';
import { Mailer } from '../email/mailer.js';
import { Worker } from '../jobs/worker.js';
import { startMaintenance } from '../jobs/maintenance.js';
import { ROUTES, createProvider } from '../oidc/provider.js';
import { grantDestroyer } from '../oidc/grants.js';
import { endCompatSessions } from '../compat/sessions.js';
import { introspectionEndpoint } from '../oidc/introspection.js';
import { IntrospectionCache, type IntrospectionCacheStats } from '../oidc/introspection-cache.js';
import { Counter, Gauge, type Registry } from 'prom-client';
import type { Database } from '../storage/db.js';
import { openDatabase } from '../storage/open.js';
import { createRenderer } from '../web/render.js';
import { syncAtStart } from '../upstream/sync.js';
import { answerUnavailable } from '../oidc/errors.js';
import { createHttpApp } from './app.js';
import { Drain } from './drain.js';
import { createMetrics } from './observability.js';
import { loginLimiter } from '../accounts/rate-limit.js';
import { DirectoryConnections } from '../directory/connections.js';
import { directoryPasswords } from '../directory/login.js';
import { systemClock, systemRandomness, type Clock, type Randomness } from '../clock.js';
import { withDeadline } from './unavailable.js';
import { followedBy, syncBeforeAnswer } from './read-your-writes.js';

export interface ServerOptions {
  migrate: boolean;
  worker: boolean;
  /** Write the configured upstream providers to the database at start (default; `--no-sync` turns it off). */
  sync?: boolean;
  log: Logger;
  /** Tests running the server in their own process move this clock instead of waiting (default: the system's). */
  clock?: Clock;
  random?: Randomness;
  /** Sees the text of every statement the server's pool sends (tests count the statements of a request). */
  onQuery?: (query: string, connection: number) => void;
  /** Where passwords are hashed (default: one made from `passwords`); in-process tests share it to fill its pool. */
  hasher?: PasswordHasher;
  /** Under `mauth server --workers N`: this worker's number, logged and added to every metric as `worker`. */
  workerLabel?: string;
}

export interface RunningServer {
  /** `http://host:port` of every bind, by listener name. */
  addresses: { listener: string; url: string }[];
  /**
   * Stops accepting, lets requests in flight finish and running jobs end within `graceMs`
   * (default `http.shutdown_grace`), then cuts what remains and closes the pool.
   */
  close(graceMs?: number): Promise<void>;
  /** Ends idle sessions now rather than at the next sweep (tests that move the clock); nothing without a worker. */
  sweepNow(): Promise<void>;
}

export function bindAddress(bind: { host?: string; port?: number; address?: string; socket?: string }): { host: string; port: number } | { socket: string } {
  if (bind.socket) return { socket: bind.socket };
  if (bind.address) {
    const parsed = parseAddress(bind.address);
    if (!parsed) throw new Error(`invalid bind address ${bind.address}`);
    return { host: parsed.host, port: parsed.port };
  }
  return { host: bind.host ?? '::', port: bind.port ?? 8080 };
}

/** Waits for `task` until `deadline` (epoch ms); whatever is left then goes on unawaited. */
export async function until<T>(task: Promise<T>, deadline: number): Promise<T | 'late'> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'late'>((resolve) => {
    timer = setTimeout(() => resolve('late'), Math.max(0, deadline - Date.now()));
  });
  try {
    return await Promise.race([task, late]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * The job worker and, beside it, the hourly pruning of expired rows. `afterChange` runs when a
 * job or a sweep of this process is done (read-your-writes of the introspection cache).
 */
export function startWorker(ctx: AppContext, db: Database, registry?: import('prom-client').Registry, afterChange?: () => void): { stop(): Promise<void>; sweepNow(): Promise<void> } {
  const worker = new Worker({
    sql: db.sql,
    handlers: followedBy(
      {
        ...homeserverJobHandlers({ sql: db.sql, homeserver: ctx.homeserver, log: ctx.log }),
        ...accountJobHandlers({ sql: db.sql, homeserver: ctx.homeserver, log: ctx.log }),
        ...emailJobHandlers({ config: ctx.config, mailer: new Mailer(ctx.config), log: ctx.log }),
      },
      afterChange,
    ),
    // Retries come quickly at first (a mail server back after seconds delivers the waiting
    // code at once) and at most every five minutes.
    backoff: (attempt) => {
      const delay = Math.min(2 ** attempt * 1000, 300_000);
      return delay * 0.75 + ctx.random.int(delay / 4 + 1);
    },
    log: ctx.log,
    clock: ctx.clock,
    random: ctx.random,
    listen: !db.embedded,
    pollIntervalMs: db.embedded ? 1000 : 5000,
    leaseMs: ctx.config.database.job_lease * 1000,
    registry,
  });
  worker.start();
  const expiration = ctx.config.experimental.inactive_session_expiration;
  const maintenance = startMaintenance(db.sql, ctx.log, ctx.clock, {
    sessionExpiry: expiration && {
      settings: expiration,
      enders: { destroyGrant: grantDestroyer(db.sql), endCompatSessions: (select) => endCompatSessions(ctx, select) },
    },
  });
  return {
    async stop() {
      await maintenance.stop();
      await worker.stop();
    },
    sweepNow: () => maintenance.sweepNow().finally(() => afterChange?.()),
  };
}

/**
 * The introspection cache, unless it is turned off or the database is the embedded one: PGlite
 * serves one process, whose single connection cannot also sit in LISTEN, so there every answer
 * comes from the database.
 */
async function startIntrospectionCache(db: Database, config: Config, log: Logger): Promise<IntrospectionCache | undefined> {
  const { cache_ttl, cache_size } = config.introspection;
  if (db.embedded || cache_ttl <= 0 || cache_size <= 0) return undefined;
  return IntrospectionCache.start(config.database, { ttlSeconds: cache_ttl, maxEntries: cache_size, log, sql: db.sql });
}

function registerCacheMetrics(registry: Registry, cache: IntrospectionCache): void {
  const counter = (name: string, help: string, pick: (s: IntrospectionCacheStats) => number) =>
    new Counter({
      name,
      help,
      registers: [registry],
      collect() {
        this.reset();
        this.inc(pick(cache.snapshot()));
      },
    });
  const gauge = (name: string, help: string, pick: (s: IntrospectionCacheStats) => number) =>
    new Gauge({
      name,
      help,
      registers: [registry],
      collect() {
        this.set(pick(cache.snapshot()));
      },
    });
  counter('mauth_introspection_cache_hits_total', 'Introspections answered from the cache', (s) => s.hits);
  counter('mauth_introspection_cache_misses_total', 'Introspections of access tokens looked up in the database', (s) => s.misses);
  counter('mauth_introspection_cache_listener_losses_total', 'Times the LISTEN connection for invalidations was lost', (s) => s.losses);
  counter('mauth_introspection_cache_unheard_total', 'Round trips through the pool not heard back on the LISTEN connection in time', (s) => s.unheard);
  counter('mauth_introspection_cache_bypassed_total', 'Introspections looked up in the database while a change made here was not yet heard', (s) => s.bypassed);
  gauge('mauth_introspection_cache_listening', '1 while invalidations are heard and the cache is used', (s) => (s.listening ? 1 : 0));
  gauge('mauth_introspection_cache_entries', 'Answers in the cache', (s) => s.size);
}

export async function startServer(config: Config, options: ServerOptions): Promise<RunningServer> {
  const db = await openDatabase(config, options.log, options.migrate, { bounded: true, onQuery: options.onQuery });
  try {
    return await serve(db, config, options);
  } catch (err) {
    // An open pool would keep the process alive after the error is reported: `mauth server`
    // must exit when start-up fails, not hang until killed.
    await db.close().catch(() => {});
    throw err;
  }
}

async function serve(db: Database, config: Config, options: ServerOptions): Promise<RunningServer> {
  const { log } = options;
  if (options.sync !== false) await syncAtStart(db.sql, config, log);
  // A worker of `mauth server --workers N` is not told: its primary synced before forking it.
  else if (!options.workerLabel) log.info('not syncing the configuration with the database (--no-sync)');
  const homeserver = createHomeserverConnection(config.matrix);
  const ctx: AppContext = { config, sql: db.sql, homeserver, log, clock: options.clock ?? systemClock, random: options.random ?? systemRandomness };
  // Set once started (below): a refresh drops the answers it retired from this process's cache
  // at its commit, so that this instance never answers them active meanwhile.
  let cache: IntrospectionCache | undefined;
  const provider = await createProvider(ctx, { refreshCommitted: (grantId) => cache?.invalidate(`grant:${grantId}`) });
  answerUnavailable(provider, ctx);
  const metrics = createMetrics();
  // Each worker of a cluster answers scrapes with its own figures: the label keeps their series apart.
  if (options.workerLabel) metrics.registry.setDefaultLabels({ worker: options.workerLabel });
  // Directory (LDAP) passwords: one connection pool per process, closed with the server.
  const directory = config.ldap.enabled ? new DirectoryConnections(config.ldap) : undefined;
  const deps = {
    app: ctx,
    provider,
    renderer: createRenderer(config),
    hasher: options.hasher ?? new PasswordHasher(config.passwords),
    metrics,
    limiter: loginLimiter(db.sql, config.rate_limiting),
    directory: directory && directoryPasswords(ctx, directory),
  };

  cache = await startIntrospectionCache(db, config, log);
  if (cache) registerCacheMetrics(metrics.registry, cache);
  const introspection = introspectionEndpoint(
    ctx,
    (status, startedAt) => {
      const route = ROUTES.introspection;
      metrics.requests.inc({ method: 'POST', route, status: String(status) });
      metrics.duration.observe({ method: 'POST', route }, Number(process.hrtime.bigint() - startedAt) / 1e9);
    },
    cache,
  );

  const servers: Server[] = [];
  const drain = new Drain();
  const addresses: RunningServer['addresses'] = [];
  try {
    for (const listener of config.http.listeners) {
      const resources = new Set(listener.resources.map((r) => r.name));
      const app = createHttpApp(deps, resources);
      const introspect = resources.has('oauth') ? introspection : undefined;
      for (const bind of listener.binds) {
        const target = bindAddress(bind);
        const handle = withDeadline(
          (req, res) => {
            if (introspect && req.method === 'POST' && req.url?.split('?')[0] === ROUTES.introspection) introspect(req, res);
            else app(req, res);
          },
          { seconds: config.database.request_deadline, renderer: deps.renderer, log },
        );
        const server = createServer((req, res) => {
          drain.track(req, res);
          if (cache) syncBeforeAnswer(cache, req, res);
          handle(req, res);
        });
        server.keepAliveTimeout = 65_000;
        await new Promise<void>((resolve, reject) => {
          server.once('error', (err) => reject(new Error(`listener ${listener.name}: ${err.message}`, { cause: err })));
          if ('socket' in target) server.listen(target.socket, () => resolve());
          else server.listen(target.port, target.host, () => resolve());
        });
        servers.push(server);
        drain.add(server);
        const actual = server.address();
        if (typeof actual === 'string' || actual === null) {
          addresses.push({ listener: listener.name, url: `unix:${actual}` });
          log.info({ listener: listener.name, socket: actual }, 'listening');
        } else {
          const shown = actual.address.includes(':') ? `[${actual.address}]` : actual.address;
          addresses.push({ listener: listener.name, url: `http://${shown}:${actual.port}` });
          log.info({ listener: listener.name, address: `${shown}:${actual.port}` }, 'listening');
        }
      }
    }
  } catch (err) {
    await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
    await introspection.close();
    await directory?.close();
    throw err;
  }

  const worker = options.worker ? startWorker(ctx, db, metrics.registry, cache && (() => cache.syncAfterWrite())) : undefined;
  log.info({ issuer: config.http.issuer, public_base: config.http.public_base }, 'Mauth is running');

  return {
    addresses,
    sweepNow: async () => worker?.sweepNow(),
    async close(graceMs = config.http.shutdown_grace * 1000) {
      const deadline = Date.now() + graceMs;
      log.info({ in_flight: drain.inFlight, grace_seconds: graceMs / 1000 }, 'draining: no new connections, finishing requests in flight');
      // Jobs already running finish beside the requests; a job still running at the deadline is
      // left to its lease and runs again elsewhere.
      const [cut, jobs] = await Promise.all([drain.drain(graceMs), worker ? until(worker.stop(), deadline) : undefined]);
      if (cut > 0) log.warn({ cut }, 'grace period over: requests still in flight were cut');
      if (jobs === 'late') log.warn('grace period over: running jobs were left to their lease');
      // Session activity recorded by introspection is written before the pool goes.
      await introspection.close();
      await directory?.close();
      await db.close();
    },
  };
}
