// `mauth manage …`: account administration from the command line.
import type { Command } from 'commander';
import pino from 'pino';
import * as users from '../storage/users.js';
import { enqueueProvisionUser } from '../jobs/homeserver-jobs.js';
import { requireUser, withDatabase } from './options.js';
import { registerEmailCommands } from './manage-email.js';
import { registerPersonalTokenCommands } from './manage-personal.js';
import { registerRegisterUserCommand } from './manage-register.js';
import { registerUserCommands } from './manage-users.js';
import { registerLdapCommands } from './manage-ldap.js';
import { createHomeserverConnection } from '../homeserver/index.js';
import { generateDeviceId, startCompatSession } from '../compat/sessions.js';
import { isValidCompatDeviceId } from '../domain/scopes.js';
import { matrixUserId } from '../domain/usernames.js';
import { systemClock, systemRandomness } from '../clock.js';

export function registerManageCommands(program: Command): void {
  const manage = program.command('manage').description('Manage accounts');
  registerEmailCommands(manage);
  registerPersonalTokenCommands(manage);
  registerRegisterUserCommand(manage);
  registerUserCommands(manage);
  registerLdapCommands(manage);

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
        if (deviceId !== undefined && !isValidCompatDeviceId(deviceId)) throw new Error(`invalid device id ${JSON.stringify(deviceId)}`);
        const ctx = { config, sql, homeserver: createHomeserverConnection(config.matrix), log: pino({ level: 'warn' }), clock: systemClock, random: systemRandomness };
        const issued = await startCompatSession(ctx, {
          user,
          deviceId: deviceId ?? generateDeviceId(ctx.random),
          refreshable: false,
          admin: opts.yesIWantToGrantSynapseAdminPrivileges,
        });
        console.error(`device ${issued.session.device_id} for ${matrixUserId(user.username, config.matrix.homeserver)}${issued.session.is_synapse_admin ? ' (Synapse admin)' : ''}`);
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
