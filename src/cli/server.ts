// `mauth server` and `mauth worker`.
import { constants } from 'node:os';
import type { Command } from 'commander';
import { createHomeserverConnection } from '../homeserver/index.js';
import { openDatabase } from '../storage/open.js';
import { createLogger, loadCommandConfig } from './options.js';
import { systemClock, systemRandomness } from '../clock.js';

/**
 * The first SIGTERM or SIGINT drains (see RunningServer.close) and exits 0 once done; a second
 * one exits at once with 128 + the signal number, the shell's code for "ended by that signal".
 */
function onSignal(close: () => Promise<void>, log: ReturnType<typeof createLogger>) {
  let closing = false;
  const stop = (signal: 'SIGINT' | 'SIGTERM') => {
    if (closing) {
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
}

export function registerServerCommands(program: Command): void {
  program
    .command('server')
    .description('Run the HTTP server (and a job worker, unless --no-worker)')
    .option('--no-migrate', 'do not apply database migrations at start-up')
    .option('--no-worker', 'do not run the background job worker in this process')
    .option('--no-sync', 'do not write the configured upstream providers to the database at start-up (mauth config sync does)')
    .action(async (opts: { migrate: boolean; worker: boolean; sync: boolean }, cmd: Command) => {
      const log = createLogger();
      const config = await loadCommandConfig(cmd, { generateIfMissing: true, log });
      // Loaded here, not at the top: the HTTP stack pulls in oidc-provider, which prints its
      // runtime warning at import, and only the commands that run it should load it.
      const { startServer } = await import('../http/server.js');
      const running = await startServer(config, { migrate: opts.migrate, worker: opts.worker, sync: opts.sync, log });
      onSignal(() => running.close(), log);
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
