// `mauth manage list-admin-users | kill-sessions | provision-all-users | lock-user | unlock-user |
// set-password`, with mas-cli's names and options. Every change goes through the account services
// the pages use, and reaches the homeserver through the job queue.
import type { Command } from 'commander';
import { deactivateAccount, reactivateAccount } from '../accounts/deactivation.js';
import { PasswordHasher } from '../accounts/passwords.js';
import * as accounts from '../accounts/service.js';
import { countSessions, endAllSessions, type SessionCounts } from '../accounts/sessions.js';
import { matrixUserId } from '../domain/usernames.js';
import { enqueueProvisionUser } from '../jobs/homeserver-jobs.js';
import * as users from '../storage/users.js';
import { weakPasswordProblem } from './manage-register.js';
import { requireUser, withDatabase } from './options.js';

/** Users whose provisioning jobs go into one transaction. */
const PROVISION_BATCH = 500;

function describeSessions(counts: SessionCounts): string {
  const part = (n: number, kind: string) => `${n} ${kind} session${n === 1 ? '' : 's'}`;
  return [part(counts.oauth2, 'OAuth 2.0'), part(counts.compat, 'compatibility'), part(counts.browser, 'browser')].join(', ');
}

export function registerUserCommands(manage: Command): void {
  manage
    .command('list-admin-users')
    .description('List the users who may request admin scopes: username, Matrix ID and user id, tab-separated')
    .action(async (_opts: unknown, cmd: Command) => {
      await withDatabase(cmd, async (sql, config) => {
        const admins = await users.listAdmins(sql);
        for (const user of admins) console.log([user.username, matrixUserId(user.username, config.matrix.homeserver), user.id].join('\t'));
        console.error(`${admins.length} user${admins.length === 1 ? '' : 's'} may request admin access`);
      });
    });

  manage
    .command('kill-sessions')
    .description('End every session of a user (OAuth 2.0, compatibility and browser); their devices leave the homeserver')
    .argument('<username>')
    .option('--dry-run', 'only count the sessions that would end')
    .action(async (username: string, opts: { dryRun?: boolean }, cmd: Command) => {
      await withDatabase(cmd, async (sql) => {
        const user = await requireUser(sql, username);
        if (opts.dryRun) {
          console.log(`would end ${describeSessions(await countSessions(sql, user.id))} of ${user.username} (dry run: nothing changed)`);
          return;
        }
        console.log(`ended ${describeSessions(await endAllSessions(sql, user.id))} of ${user.username}`);
      }, { dryRun: opts.dryRun });
    });

  manage
    .command('provision-all-users')
    .description('Queue a job sending every account (display name, e-mails, lock) to the homeserver again')
    .action(async (_opts: unknown, cmd: Command) => {
      await withDatabase(cmd, async (sql) => {
        let queued = 0;
        let after = '';
        for (;;) {
          const ids = await users.idsAfter(sql, after, PROVISION_BATCH);
          if (ids.length === 0) break;
          await sql.begin(async (tx) => {
            for (const id of ids) await enqueueProvisionUser(tx, id);
          });
          queued += ids.length;
          after = ids[ids.length - 1];
        }
        console.log(`queued provisioning of ${queued} user${queued === 1 ? '' : 's'}; the worker sends them to the homeserver`);
      });
    });

  manage
    .command('lock-user')
    .description('Lock an account: it cannot sign in and its tokens stop working (--deactivate also deactivates it)')
    .argument('<username>')
    .option('--deactivate', 'also deactivate the account: end its sessions, forget its addresses, deactivate it on the homeserver')
    .action(async (username: string, opts: { deactivate?: boolean }, cmd: Command) => {
      await withDatabase(cmd, async (sql) => {
        const user = await requireUser(sql, username);
        if (!opts.deactivate) {
          await accounts.setLocked(sql, user.id, true);
          console.log(`${user.username} locked`);
          return;
        }
        const ended = await deactivateAccount(sql, user.id);
        console.log(`${user.username} locked and deactivated; ended ${describeSessions(ended)}`);
      });
    });

  manage
    .command('unlock-user')
    .description('Unlock an account (--reactivate also reactivates a deactivated one)')
    .argument('<username>')
    .option('--reactivate', 'also reactivate the account if it was deactivated, on the homeserver too')
    .action(async (username: string, opts: { reactivate?: boolean }, cmd: Command) => {
      await withDatabase(cmd, async (sql) => {
        const user = await requireUser(sql, username);
        if (opts.reactivate && user.deactivated_at) {
          await reactivateAccount(sql, user.id);
          console.log(`${user.username} unlocked and reactivated`);
          return;
        }
        await accounts.setLocked(sql, user.id, false);
        console.log(`${user.username} unlocked`);
        if (user.deactivated_at) console.error(`note: ${user.username} is still deactivated (--reactivate reactivates it)`);
      });
    });

  manage
    .command('set-password')
    .description("Replace a user's password")
    .argument('<username>')
    .argument('<password>')
    .option('--ignore-complexity', 'accept a password below passwords.minimum_complexity')
    .action(async (username: string, password: string, opts: { ignoreComplexity?: boolean }, cmd: Command) => {
      await withDatabase(cmd, async (sql, config) => {
        const user = await requireUser(sql, username);
        if (user.password_source === 'directory') throw new Error(`${user.username}'s password is kept in the directory (ldap); change it there`);
        const weak = opts.ignoreComplexity ? undefined : weakPasswordProblem(config, password);
        if (weak) throw new Error(`${weak} (--ignore-complexity accepts it)`);
        await accounts.setPassword(sql, new PasswordHasher(config.passwords), user.id, password);
        console.log(`password set for ${user.username}`);
      });
    });
}
