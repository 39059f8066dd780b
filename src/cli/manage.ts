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
import { registerEmailCommands } from './manage-email.js';
import { createHomeserverConnection } from '../homeserver/index.js';
import { generateDeviceId, startCompatSession } from '../compat/sessions.js';

export async function withDatabase<T>(cmd: Command, run: (sql: Sql, config: Config) => Promise<T>): Promise<T> {
  const config = await loadCommandConfig(cmd);
  const log = pino({ level: 'warn' });
  const db = await openDatabase(config, log, true);
  try {
    return await run(db.sql, config);
  } finally {
    await db.close();
  }
}

export async function requireUser(sql: Sql, username: string): Promise<users.User> {
  const user = await users.findByUsername(sql, username);
  if (!user) throw new Error(`no user named ${username}`);
  return user;
}

export function registerManageCommands(program: Command): void {
  const manage = program.command('manage').description('Manage accounts');
  registerEmailCommands(manage);

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

  manage
    .command('issue-compatibility-token')
    .description('Print a legacy (compatibility) access token for a user, for bots and admin scripts; it does not expire')
    .argument('<username>')
    .argument('[device_id]', 'device to create or take over (default: a new random one)')
    .option('--yes-i-want-to-grant-synapse-admin-privileges', 'make the token a Synapse admin token (urn:synapse:admin:*)', false)
    .action(async (username: string, deviceId: string | undefined, opts: { yesIWantToGrantSynapseAdminPrivileges: boolean }, cmd: Command) => {
      await withDatabase(cmd, async (sql, config) => {
        const user = await requireUser(sql, username);
        if (!users.isActive(user)) throw new Error(`${user.username} is locked or deactivated`);
        const ctx = { config, sql, homeserver: createHomeserverConnection(config.matrix), log: pino({ level: 'warn' }) };
        const issued = await startCompatSession(ctx, {
          user,
          deviceId: deviceId ?? generateDeviceId(),
          refreshable: false,
          admin: opts.yesIWantToGrantSynapseAdminPrivileges,
        });
        console.error(`device ${issued.session.device_id} for @${user.username}:${config.matrix.homeserver}${issued.session.is_synapse_admin ? ' (Synapse admin)' : ''}`);
        console.log(issued.accessToken);
      });
    });

  manage
    .command('add-threepid')
    .description('Attach an identifier (e.g. an employee number) that username_rewrite rules can log in by')
    .argument('<username>')
    .argument('<medium>', 'the medium named in username_rewrite.rules, e.g. employee_id')
    .argument('<address>', 'the identifier itself')
    .action(async (username: string, medium: string, address: string, _opts: unknown, cmd: Command) => {
      await withDatabase(cmd, async (sql) => {
        const user = await requireUser(sql, username);
        if (medium === 'email') throw new Error('e-mail addresses are added with register-user --email');
        await users.addThreepid(sql, { userId: user.id, medium, address });
        console.log(`${medium} ${address} now names ${user.username}`);
      });
    });

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
