// `mauth manage ldap-check <login>` and `mauth manage ldap-sync [--dry-run]`: the directory
// (`ldap` section) seen from the command line.
import type { Command } from 'commander';
import pino from 'pino';
import type { Config } from '../config/types.js';
import { checkConnection, checkLogin } from '../directory/check.js';
import { DirectoryConnections, DirectoryUnavailableError } from '../directory/connections.js';
import { syncDirectoryAccounts } from '../directory/sync.js';
import { withDatabase } from './options.js';

async function withDirectory<T>(config: Config, run: (connections: DirectoryConnections) => Promise<T>): Promise<T> {
  if (!config.ldap.enabled) throw new Error('directory login is not enabled (ldap.enabled)');
  const connections = new DirectoryConnections(config.ldap);
  try {
    return await run(connections);
  } finally {
    await connections.close();
  }
}

export function registerLdapCommands(manage: Command): void {
  manage
    .command('ldap-check')
    .description('Show whether the directory answers, whether the service account is accepted, and what a login resolves to (no password needed)')
    .argument('<login>', 'a login name as a user would type it (uid, e-mail, employee number, ...)')
    .action(async (login: string, _opts: unknown, cmd: Command) => {
      await withDatabase(cmd, async (sql, config) => {
        const ok = await withDirectory(config, async (connections) => {
          const connection = await checkConnection(config, connections);
          for (const line of connection.lines) console.log(line);
          if (!connection.ok) return false;
          const report = await checkLogin(sql, config, connections, pino({ level: 'silent' }), login);
          for (const line of report.lines) console.log(line);
          return report.ok;
        });
        if (!ok) process.exitCode = 1;
      });
    });

  manage
    .command('ldap-sync')
    .description('Lock directory accounts whose entry is gone from the directory (or disabled) and end their sessions')
    .option('--dry-run', 'only list the accounts that would be locked', false)
    .action(async (opts: { dryRun: boolean }, cmd: Command) => {
      await withDatabase(cmd, async (sql, config) => {
        const report = await withDirectory(config, (connections) =>
          syncDirectoryAccounts(sql, config, connections, { dryRun: opts.dryRun }).catch((err: unknown) => {
            if (err instanceof DirectoryUnavailableError) throw new Error(`the directory is unavailable, nothing was locked: ${err.message}`);
            throw err;
          }),
        );
        console.log(`${report.checked} directory accounts checked against ${report.entries} directory entries`);
        for (const username of report.locked) console.log(`${opts.dryRun ? 'would lock' : 'locked'} ${username} (gone from the directory; sessions ${opts.dryRun ? 'would end' : 'ended'})`);
        for (const username of report.alreadyInactive) console.log(`${username} is gone from the directory and already locked or deactivated`);
        if (report.locked.length === 0) console.log('nothing to lock');
      }, { dryRun: opts.dryRun });
    });
}
