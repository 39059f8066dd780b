// `mauth server` and `mauth worker`.
import { constants } from 'node:os';
import type { Command } from 'commander';
import { createHomeserverConnection } from '../homeserver/index.js';
import { openDatabase } from '../storage/open.js';
import { clusterWorkerSlot, onDrainRequest, parseWorkers, reportReady, runPrimary } from './cluster.js';
import { createLogger, loadCommandConfig } from './options.js';
import { systemClock, systemRandomness } from '../clock.js';

/**
 * The first SIGTERM or SIGINT drains (see RunningServer.close) and exits 0 once done; a second
 * one exits at once with 128 + the signal number, the shell's code for "ended by that signal".
 */
function onSignal(close: () => Promise<void>, log: ReturnType<typeof createLogger>): (reason: 'SIGINT' | 'SIGTERM' | 'primary') => void {
  let closing = false;
  const stop = (signal: 'SIGINT' | 'SIGTERM' | 'primary') => {
    if (closing) {
      // The primary's request to drain may come after the worker's own signal (Ctrl-C reaches both).
      if (signal === 'primary') return;
      log.warn({ signal }, 'second signal: stopping without waiting for requests and jobs');
      process.exit(128 + constants.signals[signal]);
    }
    closing = true;
    log.info({ signal }, 'shutting down');
    close().then(
      () => process.exit(0),
      (err) => {
        log.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
  return stop;
}

export function registerServerCommands(program: Command): void {
  program
    .command('server')
    .description('Run the HTTP server (and a job worker, unless --no-worker)')
    .option(
      '--workers <n>',
      'server processes sharing the listeners (node:cluster), each with its own job worker unless --no-worker; `auto`: one per core. 1 (the default) runs a single process',
      '1',
    )
    .option('--no-migrate', 'do not apply database migrations at start-up')
    .option('--no-worker', 'do not run the background job worker in this process')
    .option('--no-sync', 'do not write the configured upstream providers to the database at start-up (mauth config sync does)')
    .action(async (opts: { migrate: boolean; worker: boolean; sync: boolean; workers: string }, cmd: Command) => {
      const workers = parseWorkers(opts.workers);
      const slot = clusterWorkerSlot();
      const log = slot === undefined ? createLogger() : createLogger().child({ worker: Number(slot), pid: process.pid });
      const config = await loadCommandConfig(cmd, { generateIfMissing: true, log });
      if (workers > 1 && slot === undefined) {
        await runPrimary(config, { workers, migrate: opts.migrate, sync: opts.sync, log });
        return;
      }
      // Loaded here, not at the top: the HTTP stack pulls in oidc-provider, which prints its
      // runtime warning at import, and only the commands that run it should load it.
      const { startServer } = await import('../http/server.js');
      // A worker of a cluster leaves migrations and the sync to the primary, which did them before forking.
      const running = await startServer(config, {
        migrate: slot === undefined && opts.migrate,
        worker: opts.worker,
        sync: slot === undefined && opts.sync,
        log,
        workerLabel: slot,
      });
      const stop = onSignal(() => running.close(), log);
      if (slot !== undefined) {
        onDrainRequest(() => stop('primary'));
        reportReady();
      }
    });

  program
    .command('worker')
    .description('Run only the background job worker (homeserver sync, e-mail)')
    .option('--no-migrate', 'do not apply database migrations at start-up')
    .action(async (opts: { migrate: boolean }, cmd: Command) => {
      const log = createLogger();
      const config = await loadCommandConfig(cmd);
      const db = await openDatabase(config, log, opts.migrate, { bounded: true });
      const { startWorker, until } = await import('../http/server.js');
      const ctx = { config, sql: db.sql, homeserver: createHomeserverConnection(config.matrix), log, clock: systemClock, random: systemRandomness };
      const worker = startWorker(ctx, db);
      log.info('worker running');
      onSignal(async () => {
        // Running jobs get the same grace as the server's requests; the rest go back by their lease.
        if ((await until(worker.stop(), Date.now() + config.http.shutdown_grace * 1000)) === 'late') {
          log.warn('grace period over: running jobs were left to their lease');
        }
        await db.close();
      }, log);
    });
}
