// `mauth syn2mas check|migrate`: MAS's syn2mas, into Mauth. `check` may run beside a live
// Synapse; `migrate` wants it stopped (see the README for the order of the switch).
// Exit codes as MAS's: 10 when the checks refuse, 11 when `check` only warns, 1 on failure.
import type { Command } from 'commander';
import pino from 'pino';
import { systemClock } from '../clock.js';
import type { Config } from '../config/types.js';
import { Progress, summaryLines, type ProgressOutput } from '../migrate/progress.js';
import { ImportRefused, Staging } from '../migrate/staging.js';
import { EXIT_REFUSED, EXIT_WARNINGS, checkSyn2mas, providerMappings, type CheckReport } from '../migrate/syn2mas-checks.js';
import { migrateFromSynapse } from '../migrate/syn2mas.js';
import { loadSynapseConfig, type SynapseConfig } from '../migrate/synapse-config.js';
import { openDatabase } from '../storage/open.js';
import { openReadOnly, type SourceTarget } from '../storage/synapse-source.js';
import { syncProvidersIn } from '../upstream/sync.js';
import { loadCommandConfig } from './options.js';

const collect = (value: string, previous: string[] = []) => [...previous, value];

export function minutes(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new Error(`--active-within: expected a whole number of minutes, got ${JSON.stringify(value)}`);
  return n;
}

/** Progress on stderr: a bar on a terminal, otherwise a timestamped line every few seconds. */
export function progressOutput(): ProgressOutput {
  return {
    stream: process.stderr,
    log: (_fields, message) => process.stderr.write(`${new Date().toISOString()} ${message}\n`),
  };
}

/** Prints the checks' findings; returns the exit code they call for (undefined: go on). */
export function reportFindings(report: CheckReport, what: string, checkOnly: boolean): number | undefined {
  for (const error of report.errors) process.stderr.write(`error: ${error}\n`);
  for (const warning of report.warnings) process.stderr.write(`warning: ${warning}\n`);
  if (report.errors.length > 0) {
    process.stderr.write(`${what}: refused (${report.errors.length} error${report.errors.length === 1 ? '' : 's'}); nothing was written\n`);
    return EXIT_REFUSED;
  }
  if (!checkOnly) return undefined;
  if (report.warnings.length > 0) return EXIT_WARNINGS;
  process.stdout.write(`${what}: no problems found\n`);
  return 0;
}

/** Database errors a migration in meets, said in its own terms. */
export function explain(err: unknown, source: string): Error {
  const code = (err as { code?: string }).code;
  const message = (err as Error).message ?? String(err);
  if (code === '55P03') return new Error(`${source}'s tables are in use (${message}): stop it before migrating, or use --dry-run`);
  if (code === 'ECONNREFUSED' || code === 'ENOTFOUND' || code === '28P01' || code === '3D000') return new Error(`cannot connect to ${source}'s database: ${message}`);
  // A constraint the move ran into: which row, as PostgreSQL says it; nothing was written.
  const detail = (err as { detail?: string }).detail;
  if (detail) return new Error(`${message}: ${detail}; nothing was written`);
  return err instanceof Error ? err : new Error(message);
}

interface Options {
  synapseConfig: string[];
  synapseDatabaseUri?: string;
  upstreamProviderMapping: string[];
  activeWithin: number;
  dryRun?: boolean;
}

function synapseTarget(opts: Options, synapseConfig: SynapseConfig | undefined): SourceTarget {
  if (opts.synapseDatabaseUri) return { uri: opts.synapseDatabaseUri };
  if (!synapseConfig) throw new Error('pass --synapse-config <homeserver.yaml> (or --synapse-database-uri)');
  if ('problem' in synapseConfig.database) throw new Error(synapseConfig.database.problem);
  return synapseConfig.database.target;
}

async function run(mode: 'check' | 'migrate', opts: Options, cmd: Command): Promise<void> {
  const config: Config = await loadCommandConfig(cmd);
  const synapseConfig = opts.synapseConfig.length > 0 ? await loadSynapseConfig(opts.synapseConfig) : undefined;
  const target = synapseTarget(opts, synapseConfig);
  const { mappings, errors } = providerMappings(config, opts.upstreamProviderMapping);
  const dryRun = opts.dryRun === true;
  const db = await openDatabase(config, pino({ level: 'warn' }), true);
  const synapse = openReadOnly(target, 'mauth-syn2mas');
  try {
    const report = await checkSyn2mas({
      config,
      mauth: db.sql,
      synapse,
      synapseConfig,
      mappings,
      activeWithinMinutes: opts.activeWithin,
      now: systemClock.now(),
      dryRun,
    }).catch((err: unknown) => {
      throw explain(err, 'Synapse');
    });
    report.errors.unshift(...errors);
    const code = reportFindings(report, `syn2mas ${mode}`, mode === 'check');
    if (code !== undefined) {
      process.exitCode = code;
      return;
    }
    const staging = await Staging.open(config.database);
    try {
      const progress = new Progress(progressOutput());
      const result = await migrateFromSynapse({
        config,
        synapse,
        staging,
        progress,
        mappings,
        dryRun,
        clock: systemClock,
        prepare: async (tx) => void (await syncProvidersIn(tx, config)),
      });
      process.stdout.write(`${summaryLines(result.phases, dryRun).join('\n')}\n`);
    } catch (err) {
      if (err instanceof ImportRefused) {
        process.stderr.write(`error: ${err.message}\n`);
        process.exitCode = EXIT_REFUSED;
        return;
      }
      throw explain(err, 'Synapse');
    } finally {
      await staging.close();
    }
  } finally {
    await synapse.end({ timeout: 5 });
    await db.close();
  }
}

export function registerSyn2masCommands(program: Command): void {
  const syn2mas = program
    .command('syn2mas')
    .description("Move Synapse's accounts and sessions into Mauth (as MAS's syn2mas); see the README before running it");
  const withOptions = (command: Command) =>
    command
      .option('--synapse-config <file>', "Synapse's configuration (homeserver.yaml), for its database, server_name and login settings; repeat to merge several", collect, [])
      .option('--synapse-database-uri <uri>', "Synapse's PostgreSQL database, postgresql://user:password@host:port/db (instead of the configuration's)")
      .option('--upstream-provider-mapping <mapping>', '<Synapse idp_id>:<Mauth upstream provider id>: whose user_external_ids become links to that provider (repeatable)', collect, [])
      .option('--active-within <minutes>', 'refuse while a Synapse device was seen less than this many minutes ago (0: do not check)', minutes, 10);
  withOptions(syn2mas.command('check').description('Check whether a migration would work, and what it would lose (Synapse may keep running)'))
    .action((opts: Options, cmd: Command) => run('check', opts, cmd));
  withOptions(syn2mas.command('migrate').description('Migrate: Synapse must be stopped; all or nothing, refused once Mauth has users'))
    .option('--dry-run', 'do everything, then roll back: nothing is written (Synapse may keep running)', false)
    .action((opts: Options, cmd: Command) => run('migrate', opts, cmd));
}
