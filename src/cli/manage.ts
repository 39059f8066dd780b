// `mauth manage …`: account administration from the command line.
import type { Command } from 'commander';
import pino from 'pino';
import { PasswordHasher } from '../accounts/passwords.js';
import * as accounts from '../accounts/service.js';
import { openDatabase } from '../http/server.js';
import type { Config } from '../config/types.js';
import type { Sql } from '../storage/db.js';
import * as users from '../storage/users.js';
import { enqueueProvisionUser } from '../jobs/homeserver-jobs.js';
import { loadCommandConfig } from './options.js';

async function withDatabase<T>(cmd: Command, run: (sql: Sql, config: Config) => Promise<T>): Promise<T> {
  const config = await loadCommandConfig(cmd);
  const log = pino({ level: 'warn' });
  const db = await openDatabase(config, log, true);
  try {
    return await run(db.sql, config);
  } finally {
    await db.close();
  }
}

async function requireUser(sql: Sql, username: string): Promise<users.User> {
  const user = await users.findByUsername(sql, username);
  if (!user) throw new Error(`no user named ${username}`);
  return user;
}

export function registerManageCommands(program: Command): void {
  const manage = program.command('manage').description('Manage accounts');

  manage
    .command('register-user')
    .description('Create an account (provisioned on the homeserver by the worker)')
    .argument('<username>', 'localpart of the new account (stored lower-case)')
    .option('-p, --password <password>', 'password for the account')
    .option('-e, --email <email>', 'verified e-mail address for the account')
    .option('-a, --admin', 'allow the user to request admin scopes (urn:synapse:admin:*)', false)
    .option('-d, --display-name <name>', 'display name set on the homeserver')
    .option('-y, --yes', 'do not ask for confirmation', false)
    .action(async (username: string, opts: { password?: string; email?: string; admin: boolean; displayName?: string; yes: boolean }, cmd: Command) => {
      if (!opts.yes) throw new Error('refusing to create an account without --yes (non-interactive use)');
      await withDatabase(cmd, async (sql, config) => {
        const user = await accounts.registerUser(sql, new PasswordHasher(config.passwords), {
          username,
          password: opts.password,
          email: opts.email,
          admin: opts.admin,
          displayName: opts.displayName,
        });
        console.log(`created @${user.username}:${config.matrix.homeserver} (id ${user.id})${opts.admin ? ' with admin rights' : ''}`);
      });
    });

  manage
    .command('set-password')
    .description("Replace a user's password")
    .argument('<username>')
    .argument('<password>')
    .action(async (username: string, password: string, _opts: unknown, cmd: Command) => {
      await withDatabase(cmd, async (sql, config) => {
        const user = await requireUser(sql, username);
        await accounts.setPassword(sql, new PasswordHasher(config.passwords), user.id, password);
        console.log(`password set for ${user.username}`);
      });
    });

  for (const [name, locked] of [['lock-user', true], ['unlock-user', false]] as const) {
    manage
      .command(name)
      .description(locked ? 'Lock an account: it cannot sign in and its tokens stop working' : 'Unlock an account')
      .argument('<username>')
      .action(async (username: string, _opts: unknown, cmd: Command) => {
        await withDatabase(cmd, async (sql) => {
          const user = await requireUser(sql, username);
          await accounts.setLocked(sql, user.id, locked);
          console.log(`${user.username} ${locked ? 'locked' : 'unlocked'}`);
        });
      });
  }

  for (const [name, admin] of [['promote-admin', true], ['demote-admin', false]] as const) {
    manage
      .command(name)
      .description(admin ? 'Allow a user to request admin scopes' : 'Stop a user from requesting admin scopes')
      .argument('<username>')
      .action(async (username: string, _opts: unknown, cmd: Command) => {
        await withDatabase(cmd, async (sql) => {
          const user = await requireUser(sql, username);
          await sql.begin(async (tx) => {
            await users.setCanRequestAdmin(tx, user.id, admin);
            await enqueueProvisionUser(tx, user.id);
          });
          console.log(`${user.username} ${admin ? 'can now' : 'can no longer'} request admin access`);
        });
      });
  }
}
