// `mauth config generate|check|dump|sync`: write a fresh configuration, validate the `-c` files
// (errors name the key and the file), print the merged configuration with secrets hidden, and
// write the upstream providers to the database (and check the static clients' sessions against it).
import type { Command } from 'commander';
import YAML from 'yaml';
import { checkConfig, formatProblem, generateConfig, redactConfig, type Problem } from '../config/load.js';
import pino from 'pino';
import { openDatabase } from '../storage/open.js';
import { syncStaticClients, type StaticClientsResult } from '../oidc/static-clients.js';
import { systemClock } from '../clock.js';
import { syncProviders, type SyncResult } from '../upstream/sync.js';
import { configFiles, requireMigrated } from './options.js';

/** Where the commands write; tests pass their own. */
export interface ConfigCommandsIo {
  stdout(text: string): void;
  stderr(text: string): void;
  setExitCode(code: number): void;
}

const processIo: ConfigCommandsIo = {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
  setExitCode: (code) => {
    process.exitCode = code;
  },
};

interface GenerateFlags {
  example?: boolean;
  publicBase?: string;
  homeserver?: string;
  databaseUri?: string;
}

function providerLines(result: SyncResult, dryRun: boolean): string[] {
  const verb = (done: string, would: string) => (dryRun ? would : done);
  return [
    ...result.created.map((id) => `upstream provider ${id}: ${verb('created', 'would be created')}`),
    ...result.updated.map((id) => `upstream provider ${id}: ${verb('updated', 'would be updated')}`),
    ...result.unchanged.map((id) => `upstream provider ${id}: unchanged`),
    ...result.disabled.map((id) => `upstream provider ${id}: not configured, ${verb('disabled', 'would be disabled')} (--prune deletes it and its links)`),
    ...result.deleted.map((id) => `upstream provider ${id}: not configured, ${verb('deleted with its links', 'would be deleted with its links')}`),
  ];
}

function clientLines(result: StaticClientsResult, options: { prune: boolean; dryRun: boolean }): string[] {
  const count = (n: number, what: string) => `${n} ${what}${n === 1 ? '' : 's'}`;
  const sessions = (n: number) => count(n, 'session');
  // What a removed client still holds: its sessions, and its tokens and personal sessions if any.
  const held = (c: StaticClientsResult['orphaned'][number]) =>
    [sessions(c.grants), ...(c.tokens ? [count(c.tokens, 'client_credentials token')] : []), ...(c.personalSessions ? [count(c.personalSessions, 'personal session')] : [])].join(', ');
  return [
    ...result.configured.map((c) => `static client ${c.clientId}: configured, ${sessions(c.grants)}`),
    ...result.shadowing.map((id) => `static client ${id}: a registered client has the same id; the configured one is used`),
    ...result.orphaned.map((c) =>
      !options.prune
        ? `client ${c.clientId}: not configured or registered any more, ${held(c)} still live (--prune ends them)`
        : options.dryRun
          ? `client ${c.clientId}: not configured or registered any more, ${held(c)} would be ended`
          : `client ${c.clientId}: not configured or registered any more, ${held(c)} ended`,
    ),
    `${result.configured.length} static client(s): read from the configuration by every instance, nothing to write`,
  ];
}

function printProblems(io: ConfigCommandsIo, label: string, problems: Problem[]): void {
  for (const problem of problems) io.stderr(`${label}: ${formatProblem(problem)}\n`);
}

/** Loads the files of `cmd` (global -c, else MAUTH_CONFIG or MAS_CONFIG, else ./config.yaml), reporting problems. */
async function check(cmd: Command, io: ConfigCommandsIo) {
  const result = await checkConfig({ files: configFiles(cmd), env: process.env });
  if (result.files.length === 0) {
    io.stderr('error: no configuration file: pass -c <file>, set MAUTH_CONFIG (or MAS_CONFIG), or create ./config.yaml (mauth config generate > config.yaml)\n');
    io.setExitCode(1);
    return undefined;
  }
  printProblems(io, 'warning', result.warnings);
  printProblems(io, 'error', result.errors);
  if (!result.config) io.setExitCode(1);
  return result.config;
}

export function registerConfigCommands(program: Command, io: ConfigCommandsIo = processIo): void {
  const config = program.command('config').description('Generate, check and show the configuration');

  config
    .command('generate')
    .description('Print a new configuration with fresh secrets and every default written out')
    .option('--example', 'print the deterministic example with placeholder secrets (config.example.yaml)')
    .option('--public-base <url>', 'public URL of Mauth (http.public_base)', 'http://127.0.0.1:8080/')
    .option('--homeserver <name>', "the homeserver's server_name (matrix.homeserver)")
    .option('--database-uri <uri>', 'use this PostgreSQL server instead of the embedded database')
    .action(async (flags: GenerateFlags) => {
      const text = await generateConfig({
        example: flags.example === true,
        publicBase: flags.publicBase,
        homeserver: flags.homeserver,
        embedded: flags.databaseUri === undefined,
        databaseUri: flags.databaseUri,
      });
      io.stdout(text);
    });

  config
    .command('check')
    .description('Validate the configuration files (-c, repeatable): errors name the key and the file')
    .action(async (_flags: unknown, cmd: Command) => {
      if (await check(cmd, io)) io.stdout('config is valid\n');
    });

  config
    .command('sync')
    .description('Write the upstream providers to the database and check the static clients against it (the server syncs providers at start too)')
    .option('--prune', 'delete providers that are no longer configured, with their links (otherwise they are disabled), and end the sessions, client_credentials tokens and personal sessions of static clients no longer configured')
    .option('--dry-run', 'only print what would change')
    .action(async (flags: { prune?: boolean; dryRun?: boolean }, cmd: Command) => {
      const loaded = await check(cmd, io);
      if (!loaded) return;
      const options = { prune: flags.prune === true, dryRun: flags.dryRun === true };
      const db = await openDatabase(loaded, pino({ level: 'warn' }), !options.dryRun);
      try {
        if (options.dryRun) await requireMigrated(db.sql);
        const result = await syncProviders(db.sql, loaded, options);
        const clients = await syncStaticClients(db.sql, loaded, { ...options, now: systemClock.now() });
        io.stdout(`${[...providerLines(result, options.dryRun), ...clientLines(clients, options)].join('\n')}\n`);
      } finally {
        await db.close();
      }
    });

  config
    .command('dump')
    .description('Print the merged configuration, defaults included, with secrets redacted')
    .action(async (_flags: unknown, cmd: Command) => {
      const loaded = await check(cmd, io);
      if (loaded) io.stdout(YAML.stringify(redactConfig(loaded), { lineWidth: 0 }));
    });
}
