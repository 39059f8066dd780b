// `mauth manage issue-personal-token`: a personal access token (`mpt_…`) acting as a user, owned
// by that user, e.g. to reach the admin API (`--scope urn:mas:admin`) before any admin client
// exists. The token is printed once; only its hash is stored.
import { InvalidArgumentError, type Command } from 'commander';
import pino from 'pino';
import { createPersonalSession, InvalidPersonalScopeError } from '../accounts/personal-tokens.js';
import { systemClock, systemRandomness } from '../clock.js';
import { MAS_ADMIN_SCOPE } from '../domain/scopes.js';
import { matrixUserId } from '../domain/usernames.js';
import { createHomeserverConnection } from '../homeserver/index.js';
import * as users from '../storage/users.js';
import { requireUser, withDatabase } from './options.js';

function seconds(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 4294967295) throw new InvalidArgumentError('must be a positive number of seconds');
  return n;
}

export function registerPersonalTokenCommands(manage: Command): void {
  manage
    .command('issue-personal-token')
    .description('Print a personal access token (mpt_…) acting as a user, for scripts and the admin API')
    .argument('<username>', 'the user the token acts as (and who owns it)')
    .option('-s, --scope <scope>', 'space-separated scopes of the token', MAS_ADMIN_SCOPE)
    .option('-n, --name <name>', 'what the token is for, shown in the admin API', 'Issued by mauth manage issue-personal-token')
    .option('--expires-in <seconds>', 'seconds until the token expires (default: never)', seconds)
    .action(async (username: string, opts: { scope: string; name: string; expiresIn?: number }, cmd: Command) => {
      await withDatabase(cmd, async (sql, config) => {
        const user = await requireUser(sql, username);
        if (!users.isActive(user)) throw new Error(`${user.username} is locked or deactivated`);
        const ctx = { config, sql, homeserver: createHomeserverConnection(config.matrix), log: pino({ level: 'warn' }), clock: systemClock, random: systemRandomness };
        try {
          const issued = await createPersonalSession(ctx, { owner: { userId: user.id }, actor: user, humanName: opts.name, scope: opts.scope, expiresIn: opts.expiresIn });
          const expiry = issued.session.expires_at ? `, expires ${issued.session.expires_at.toISOString()}` : '';
          console.error(`personal session ${issued.session.id} for ${matrixUserId(user.username, config.matrix.homeserver)}, scope ${issued.session.scope}${expiry}`);
          console.log(issued.token);
        } catch (err) {
          if (err instanceof InvalidPersonalScopeError) throw new Error(`--scope: ${err.message}`);
          throw err;
        }
      });
    });
}
