// The `mauth` command line.
import { Command } from 'commander';
import { ConfigError, formatProblem } from '../config/problems.js';
import { registerConfigCommands } from './config.js';
import { registerDatabaseCommands } from './database.js';
import { registerDoctorCommand } from './doctor.js';
import { registerManageCommands } from './manage.js';
import { registerServerCommands } from './server.js';
import { registerTemplatesCommands } from './templates.js';
import { registerSyn2masCommands } from './syn2mas.js';
import { registerImportMasCommand } from './import-mas.js';

function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

export function buildProgram(): Command {
  const program = new Command('mauth')
    .description('Mauth: authentication service for Matrix homeservers (OAuth 2.0 / OpenID Connect, MSC3861)')
    .option('-c, --config <file>', 'configuration file; repeat to merge several, later ones win (default: $MAUTH_CONFIG, $MAS_CONFIG, ./config.yaml)', collect)
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
  registerTemplatesCommands(program);
  registerDoctorCommand(program);
  registerSyn2masCommands(program);
  registerImportMasCommand(program);
  return program;
}

/** What a failed command prints: one line per problem, without a stack trace. */
export function failureLines(err: unknown): string[] {
  if (err instanceof ConfigError) return err.problems.map((problem) => `mauth: invalid configuration: ${formatProblem(problem)}`);
  const message = err instanceof Error ? err.message : String(err);
  return [`mauth: ${message.replace(/\s*\n\s*/g, ' ')}`];
}

/** How long a failed command may take to let go of what it opened before it is made to exit. */
const EXIT_GRACE_MS = 2000;

export async function main(argv: string[]): Promise<void> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code?.startsWith('commander.')) return;
    for (const line of failureLines(err)) process.stderr.write(`${line}\n`);
    process.exitCode = process.exitCode || 1;
    // Start-up closes what it opened when it fails, so the process normally ends by itself. A
    // handle left behind (a library's socket or timer) must not keep a failed `mauth server`
    // running until someone kills it: after a short grace it exits anyway. The error line is out
    // by then: writes to stderr are synchronous for files and, on Linux, for pipes and terminals.
    setTimeout(() => process.exit(), EXIT_GRACE_MS).unref();
  }
}
