// `mauth import-mas --mas-database-uri …`: move from a running MAS to Mauth without signing
// anyone out (see the README for the order of the switch). Checks first, as `syn2mas` does; the
// same exit codes (10: refused), `--dry-run`, progress and all-or-nothing move.
import type { Command } from 'commander';
import pino from 'pino';
import { systemClock } from '../clock.js';
import { checkImportMas } from '../migrate/mas-checks.js';
import { importFromMas } from '../migrate/mas-import.js';
import { Progress, summaryLines } from '../migrate/progress.js';
import { ImportRefused, Staging } from '../migrate/staging.js';
import { EXIT_REFUSED } from '../migrate/syn2mas-checks.js';
import { openDatabase } from '../storage/open.js';
import { openReadOnly } from '../storage/synapse-source.js';
import { syncProvidersIn } from '../upstream/sync.js';
import { loadCommandConfig } from './options.js';
import { explain, minutes, progressOutput, reportFindings } from './syn2mas.js';

interface Options {
  masDatabaseUri: string;
  activeWithin: number;
  dryRun: boolean;
  check: boolean;
}

async function run(opts: Options, cmd: Command): Promise<void> {
  const config = await loadCommandConfig(cmd);
  const db = await openDatabase(config, pino({ level: 'warn' }), true);
  const mas = openReadOnly({ uri: opts.masDatabaseUri }, 'mauth-import-mas');
  try {
    const report = await checkImportMas({
      config,
      mauth: db.sql,
      mas,
      activeWithinMinutes: opts.activeWithin,
      now: systemClock.now(),
      dryRun: opts.dryRun,
    }).catch((err: unknown) => {
      throw explain(err, 'MAS');
    });
    const code = reportFindings(report, 'import-mas', opts.check);
    if (code !== undefined) {
      process.exitCode = code;
      return;
    }
    const staging = await Staging.open(config.database);
    try {
      const result = await importFromMas({
        config,
        mas,
        staging,
        progress: new Progress(progressOutput()),
        dryRun: opts.dryRun,
        clock: systemClock,
        prepare: async (tx) => void (await syncProvidersIn(tx, config)),
      });
      process.stdout.write(`${summaryLines(result.phases, opts.dryRun).join('\n')}\n`);
    } catch (err) {
      if (err instanceof ImportRefused) {
        process.stderr.write(`error: ${err.message}\n`);
        process.exitCode = EXIT_REFUSED;
        return;
      }
      throw explain(err, 'MAS');
    } finally {
      await staging.close();
    }
  } finally {
    await mas.end({ timeout: 5 });
    await db.close();
  }
}

export function registerImportMasCommand(program: Command): void {
  program
    .command('import-mas')
    .description('Copy users, clients and live sessions from a Matrix Authentication Service database (stop MAS first; see the README)')
    .requiredOption('--mas-database-uri <uri>', "MAS's PostgreSQL database, postgresql://user:password@host:port/db (only read)")
    .option('--check', 'only check whether the import would work, and what it would not carry over (exit 10: refused, 11: warnings)', false)
    .option('--dry-run', 'do everything, then roll back: nothing is written', false)
    .option('--active-within <minutes>', 'refuse while a MAS session was active less than this many minutes ago (0: do not check)', minutes, 10)
    .action((opts: Options, cmd: Command) => run(opts, cmd));
}
