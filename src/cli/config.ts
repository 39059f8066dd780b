// `mauth config generate|check|dump`: write a fresh configuration, validate the `-c` files
// (errors name the key and the file), and print the merged configuration with secrets hidden.
import type { Command } from 'commander';
import YAML from 'yaml';
import { checkConfig, formatProblem, generateConfig, redactConfig, type Problem } from '../config/load.js';
import { configFiles } from './options.js';

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

function printProblems(io: ConfigCommandsIo, label: string, problems: Problem[]): void {
  for (const problem of problems) io.stderr(`${label}: ${formatProblem(problem)}\n`);
}

/** Loads the files of `cmd` (global -c, else MAUTH_CONFIG, else ./config.yaml), reporting problems. */
async function check(cmd: Command, io: ConfigCommandsIo) {
  const result = await checkConfig({ files: configFiles(cmd), env: process.env });
  if (result.files.length === 0) {
    io.stderr('error: no configuration file: pass -c <file>, set MAUTH_CONFIG, or create ./config.yaml (mauth config generate > config.yaml)\n');
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
    .command('dump')
    .description('Print the merged configuration, defaults included, with secrets redacted')
    .action(async (_flags: unknown, cmd: Command) => {
      const loaded = await check(cmd, io);
      if (loaded) io.stdout(YAML.stringify(redactConfig(loaded), { lineWidth: 0 }));
    });
}
