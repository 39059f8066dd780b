// `mauth server` and `mauth worker`.
import type { Command } from 'commander';
import { createHomeserverConnection } from '../homeserver/index.js';
import { openDatabase, startServer, startWorker } from '../http/server.js';
import { createLogger, loadCommandConfig } from './options.js';
import { systemClock, systemRandomness } from '../clock.js';

function onSignal(close: () => Promise<void>, log: ReturnType<typeof createLogger>) {
  let closing = false;
  const stop = (signal: string) => {
    if (closing) return;
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
    .action(async (opts: { migrate: boolean; worker: boolean }, cmd: Command) => {
      const log = createLogger();
      const config = await loadCommandConfig(cmd, { generateIfMissing: true, log });
      const running = await startServer(config, { migrate: opts.migrate, worker: opts.worker, log });
      onSignal(running.close, log);
    });

  program
    .command('worker')
    .description('Run only the background job worker (homeserver sync, e-mail)')
    .option('--no-migrate', 'do not apply database migrations at start-up')
    .action(async (opts: { migrate: boolean }, cmd: Command) => {
      const log = createLogger();
      const config = await loadCommandConfig(cmd);
      const db = await openDatabase(config, log, opts.migrate);
      const ctx = { config, sql: db.sql, homeserver: createHomeserverConnection(config.matrix), log, clock: systemClock, random: systemRandomness };
      const worker = startWorker(ctx, db);
      log.info('worker running');
      onSignal(async () => {
        await worker.stop();
        await db.close();
      }, log);
    });
}
