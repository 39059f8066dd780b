// `mauth manage …`: account administration from the command line.
import type { Command } from 'commander';
import pino from 'pino';
import { PasswordHasher } from '../accounts/passwords.js';
import { createAccount } from '../accounts/create-account.js';
import * as accounts from '../accounts/service.js';
import type { Config } from '../config/types.js';
import type { Sql } from '../storage/db.js';
import * as users from '../storage/users.js';
import * as upstream from '../storage/upstream.js';
import { syncProviders } from '../upstream/sync.js';
import { enqueueProvisionUser } from '../jobs/homeserver-jobs.js';
import { requireUser, withDatabase } from './options.js';
import { emailArgument, registerEmailCommands } from './manage-email.js';
import { registerPersonalTokenCommands } from './manage-personal.js';
import { createHomeserverConnection } from '../homeserver/index.js';
import { generateDeviceId, startCompatSession } from '../compat/sessions.js';
import { isValidCompatDeviceId } from '../domain/scopes.js';
import { matrixUserId } from '../domain/usernames.js';
import { systemClock, systemRandomness } from '../clock.js';

function collectMappings(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

/** `PROVIDER_ID:SUBJECT` pairs, checked against the providers (synced first when only configured). */
async function upstreamMappings(sql: Sql, config: Config, raw: string[]): Promise<{ providerId: string; subject: string }[]> {
  const out: { providerId: string; subject: string }[] = [];
  for (const mapping of raw) {
    const colon = mapping.indexOf(':');
    const providerId = colon > 0 ? mapping.slice(0, colon).toUpperCase() : '';
    const subject = colon > 0 ? mapping.slice(colon + 1) : '';
    if (!providerId || !subject) throw new Error(`--upstream-provider-mapping ${JSON.stringify(mapping)}: expected PROVIDER_ID:SUBJECT`);
    if (!(await upstream.findProvider(sql, providerId))) {
      if (!config.upstream_oauth2.providers.some((p) => p.id === providerId)) {
        throw new Error(`--upstream-provider-mapping: no upstream provider ${providerId} in the configuration`);
      }
      await syncProviders(sql, config);
    }
    if (await upstream.findLink(sql, providerId, subject)) {
      throw new Error(`the subject ${JSON.stringify(subject)} of provider ${providerId} is already linked to an account`);
    }
    out.push({ providerId, subject });
  }
  return out;
}

export function registerManageCommands(program: Command): void {
  const manage = program.command('manage').description('Manage accounts');
  registerEmailCommands(manage);
  registerPersonalTokenCommands(manage);

  manage
    .command('register-user')
    .description('Create an account (provisioned on the homeserver by the worker)')
    .argument('<username>', 'localpart of the new account (stored lower-case)')
    .option('-p, --password <password>', 'password for the account')
    .option('-e, --email <email>', 'verified e-mail address for the account')
    .option('-a, --admin', 'allow the user to request admin scopes (urn:synapse:admin:*)', false)
    .option('-d, --display-name <name>', 'display name set on the homeserver')
    .option('-y, --yes', 'do not ask for confirmation', false)
    .option('--upstream-provider-mapping <mapping>', 'link the account to an upstream subject, PROVIDER_ID:SUBJECT (repeatable)', collectMappings)
    .action(async (username: string, opts: { password?: string; email?: string; admin: boolean; displayName?: string; yes: boolean; upstreamProviderMapping?: string[] }, cmd: Command) => {
      if (!opts.yes) throw new Error('refusing to create an account without --yes (non-interactive use)');
      const email = opts.email === undefined ? undefined : emailArgument(opts.email);
      await withDatabase(cmd, async (sql, config) => {
        const mappings = await upstreamMappings(sql, config, opts.upstreamProviderMapping ?? []);
        const hashed = opts.password === undefined ? undefined : await new PasswordHasher(config.passwords).hash(opts.password);
        // The account and its links are all-or-nothing: a subject linked meanwhile undoes the account.
        const { user } = await sql.begin((tx) =>
          createAccount(tx, {
            username,
            displayName: opts.displayName,
            canRequestAdmin: opts.admin,
            password: hashed && { hash: hashed.hash, version: hashed.version },
            emails: email === undefined ? [] : [{ address: email, verified: true }],
            upstreamLinks: mappings,
          }),
        );
        console.log(`created ${matrixUserId(user.username, config.matrix.homeserver)} (id ${user.id})${opts.admin ? ' with admin rights' : ''}`);
        for (const m of mappings) console.log(`linked to subject ${JSON.stringify(m.subject)} of upstream provider ${m.providerId}`);
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
