// `mauth database migrate`.
import type { Command } from 'commander';
import { openDatabase } from '../storage/open.js';
import { createLogger, loadCommandConfig } from './options.js';

export function registerDatabaseCommands(program: Command): void {
  const database = program.command('database').description('Manage the database');
  database
    .command('migrate')
    .description('Apply pending migrations (safe to run from several instances at once)')
    .action(async (_opts: unknown, cmd: Command) => {
      const log = createLogger();
      const config = await loadCommandConfig(cmd);
      const db = await openDatabase(config, log, false);
      try {
        const { migrate } = await import('../storage/migrate.js');
        const { applied } = await migrate(db.sql);
        console.log(applied.length ? `applied: ${applied.join(', ')}` : 'database is up to date');
      } finally {
        await db.close();
      }
    });
}
