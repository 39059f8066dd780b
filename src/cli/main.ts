// The `mauth` command line.
import { Command } from 'commander';
import { registerConfigCommands } from './config.js';
import { registerDatabaseCommands } from './database.js';
import { registerManageCommands } from './manage.js';
import { registerServerCommands } from './server.js';

function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

export function buildProgram(): Command {
  const program = new Command('mauth')
    .description('Mauth: authentication service for Matrix homeservers (OAuth 2.0 / OpenID Connect, MSC3861)')
    .option('-c, --config <file>', 'configuration file; repeat to merge several, later ones win (default: $MAUTH_CONFIG, ./config.yaml)', collect)
    .showHelpAfterError()
    .exitOverride((err) => {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help') {
        process.exitCode = 0;
        throw err;
      }
      process.exitCode = err.exitCode || 2;
      throw err;
    });
  registerServerCommands(program);
  registerDatabaseCommands(program);
  registerConfigCommands(program);
  registerManageCommands(program);
  return program;
}

export async function main(argv: string[]): Promise<void> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code?.startsWith('commander.')) return;
    console.error(`mauth: ${(err as Error).message}`);
    process.exitCode = process.exitCode || 1;
  }
}
