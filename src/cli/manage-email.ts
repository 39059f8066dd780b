// `mauth manage add-email | verify-email | issue-user-registration-token`.
import { InvalidArgumentError, type Command } from 'commander';
import { secondsAfter, systemClock, systemRandomness } from '../clock.js';
import { asciiLower, parseEmailAddress } from '../domain/email-address.js';
import { hashSecret } from '../domain/tokens.js';
import { enqueueProvisionUser } from '../jobs/homeserver-jobs.js';
import * as registrations from '../storage/registrations.js';
import * as users from '../storage/users.js';
import { requireUser, withDatabase } from './options.js';

/** The canonical form of an address given on the command line, or a clear error. */
export function emailArgument(value: string): string {
  const parsed = parseEmailAddress(value.trim());
  if (!parsed.ok) throw new Error(`${JSON.stringify(value)}: ${parsed.message}`);
  return parsed.value.address;
}

function positiveInteger(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('must be a positive integer');
  return n;
}

export function registerEmailCommands(manage: Command): void {
  manage
    .command('add-email')
    .description('Add a verified e-mail address to an account (and send it to the homeserver)')
    .argument('<username>')
    .argument('<email>')
    .action(async (username: string, given: string, _opts: unknown, cmd: Command) => {
      const email = emailArgument(given);
      await withDatabase(cmd, async (sql) => {
        const user = await requireUser(sql, username);
        await sql.begin(async (tx) => {
          await users.addEmail(tx, { userId: user.id, email, verified: true });
          await enqueueProvisionUser(tx, user.id);
        });
        console.log(`${email} added to ${user.username}, verified`);
      });
    });

  manage
    .command('verify-email')
    .description('Mark an address an account already has as verified')
    .argument('<username>')
    .argument('<email>')
    .action(async (username: string, given: string, _opts: unknown, cmd: Command) => {
      const email = emailArgument(given);
      const key = asciiLower(email); // the comparison key of a canonical address
      await withDatabase(cmd, async (sql) => {
        const user = await requireUser(sql, username);
        const known = (await users.listEmails(sql, user.id)).find((e) => e.email_key === key);
        if (!known) throw new Error(`${user.username} has no address ${email} (use add-email)`);
        await sql.begin(async (tx) => {
          await users.addEmail(tx, { userId: user.id, email: known.email, verified: true });
          await enqueueProvisionUser(tx, user.id);
        });
        console.log(`${known.email} of ${user.username} is verified`);
      });
    });

  manage
    .command('issue-user-registration-token')
    .description('Create a registration token (needed to register when account.registration_token_required)')
    .option('--token <token>', 'the token to create (default: a random one)')
    .option('--usage-limit <n>', 'how many registrations it allows', positiveInteger)
    .option('--unlimited', 'no usage limit (the default without --usage-limit)', false)
    .option('--expires-in <seconds>', 'seconds until it expires', positiveInteger)
    .action(async (opts: { token?: string; usageLimit?: number; unlimited: boolean; expiresIn?: number }, cmd: Command) => {
      if (opts.unlimited && opts.usageLimit !== undefined) throw new Error('--unlimited and --usage-limit exclude each other');
      const token = opts.token ?? systemRandomness.bytes(15).toString('base64url');
      if (token.length < 8) throw new Error('a token must be at least 8 characters');
      await withDatabase(cmd, async (sql) => {
        await registrations.createRegistrationToken(sql, {
          tokenHash: hashSecret(token),
          usageLimit: opts.usageLimit ?? null,
          expiresAt: opts.expiresIn ? secondsAfter(systemClock.now(), opts.expiresIn) : null,
        });
      });
      console.log(token);
    });
}
