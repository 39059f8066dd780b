// `mauth manage register-user`, as mas-cli has it: options for scripts (`--yes`), and questions on
// the terminal for whatever was left out when a person runs it. The account is made by
// accounts/create-account.ts like every other; the name is checked with the homeserver first.
import type { Command } from 'commander';
import { createAccount } from '../accounts/create-account.js';
import { PasswordHasher } from '../accounts/passwords.js';
import { checkStrength } from '../accounts/password-strength.js';
import type { Config } from '../config/types.js';
import { matrixUserId, validateUsername } from '../domain/usernames.js';
import { createHomeserverConnection, type HomeserverConnection } from '../homeserver/index.js';
import type { Sql } from '../storage/db.js';
import * as upstream from '../storage/upstream.js';
import * as users from '../storage/users.js';
import { syncProviders } from '../upstream/sync.js';
import { emailArgument } from './manage-email.js';
import { withDatabase } from './options.js';
import { ask, askHidden, confirm, interactive } from './prompt.js';

interface RegisterOptions {
  password?: string;
  email?: string[];
  admin?: boolean;
  displayName?: string;
  yes?: boolean;
  upstreamProviderMapping?: string[];
  ignorePasswordComplexity?: boolean;
}

function collect(value: string, previous: string[] = []): string[] {
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

/** `alice`, `@alice` or `@alice:example.com` → `alice`, refused unless free here and on the homeserver. */
async function checkUsername(sql: Sql, homeserver: HomeserverConnection, given: string): Promise<string> {
  const localpart = given.trim().replace(/^@/, '').split(':')[0].toLowerCase();
  const problem = validateUsername(localpart, homeserver.serverName);
  if (problem) throw new Error(`${JSON.stringify(given)}: ${problem}`);
  if (await users.findByUsername(sql, localpart)) throw new Error(`a user named ${localpart} already exists`);
  const availability = await homeserver.isLocalpartAvailable(localpart).catch((err: unknown) => {
    throw new Error(`cannot ask the homeserver whether ${homeserver.mxid(localpart)} is free: ${(err as Error).message}`, { cause: err });
  });
  if (!availability.available) throw new Error(`${homeserver.mxid(localpart)} is not available on the homeserver (${availability.errcode})`);
  return localpart;
}

/** Why `password` falls short of `passwords.minimum_complexity`, or undefined when it does not. */
export function weakPasswordProblem(config: Config, password: string): string | undefined {
  const strength = checkStrength(password, config.passwords.minimum_complexity);
  if (strength.ok) return undefined;
  return `that password is too weak (strength ${strength.score} of 4, at least ${config.passwords.minimum_complexity} needed)${strength.hint ? `: ${strength.hint}` : ''}`;
}

/** Asks until `check` accepts the answer (it returns the value or throws with the reason). */
async function askUntil<T>(question: () => Promise<string>, check: (answer: string) => Promise<T>): Promise<T> {
  for (;;) {
    try {
      return await check(await question());
    } catch (err) {
      process.stderr.write(`${(err as Error).message}\n`);
    }
  }
}

/** Fills in what the options left out, on the terminal. */
async function askForTheRest(config: Config, opts: RegisterOptions, emails: string[]): Promise<void> {
  if (opts.password === undefined && config.passwords.enabled) {
    opts.password = await askUntil(
      () => askHidden('Password (empty for none): '),
      async (password) => {
        if (password === '') return undefined;
        const weak = opts.ignorePasswordComplexity ? undefined : weakPasswordProblem(config, password);
        if (weak) throw new Error(weak);
        if ((await askHidden('Repeat the password: ')) !== password) throw new Error('the passwords differ');
        return password;
      },
    );
  }
  if (emails.length === 0) {
    for (;;) {
      const email = await askUntil(() => ask('E-mail address (empty when done): '), async (answer) => (answer === '' ? undefined : emailArgument(answer)));
      if (email === undefined) break;
      emails.push(email);
    }
  }
  if (opts.displayName === undefined) opts.displayName = (await ask('Display name (empty for none): ')) || undefined;
  if (opts.admin === undefined) opts.admin = await confirm('May this user request admin access?', false);
}

/** What a script would run to do the same, the password left as $PASSWORD. */
function equivalentCommand(username: string, opts: RegisterOptions, emails: string[]): string {
  const quote = (value: string) => (/^[\w@.:+=/-]+$/.test(value) ? value : `'${value.replace(/'/g, `'\\''`)}'`);
  const parts = ['mauth', 'manage', 'register-user', '--yes', quote(username)];
  for (const email of emails) parts.push('--email', quote(email));
  if (opts.displayName !== undefined) parts.push('--display-name', quote(opts.displayName));
  if (opts.password !== undefined) parts.push('--password', '"$PASSWORD"');
  for (const mapping of opts.upstreamProviderMapping ?? []) parts.push('--upstream-provider-mapping', quote(mapping));
  if (opts.admin !== undefined) parts.push(opts.admin ? '--admin' : '--no-admin');
  return parts.join(' ');
}

export function registerRegisterUserCommand(manage: Command): void {
  manage
    .command('register-user')
    .description('Create an account (provisioned on the homeserver by the worker); asks for what is missing on a terminal unless --yes')
    .argument('[username]', 'localpart of the new account (stored lower-case); @user:server is accepted')
    .option('-p, --password <password>', 'password for the account')
    .option('-e, --email <email>', 'verified e-mail address for the account (repeatable)', collect)
    .option('-m, --upstream-provider-mapping <mapping>', 'link the account to an upstream subject, PROVIDER_ID:SUBJECT (repeatable)', collect)
    .option('-a, --admin', 'allow the user to request admin scopes (urn:synapse:admin:*)')
    .option('-A, --no-admin', 'do not allow the user to request admin scopes (the default)')
    .option('-d, --display-name <name>', 'display name set on the homeserver')
    .option('-y, --yes', 'ask nothing: create the account from the options alone')
    .option('--ignore-password-complexity', 'accept a password below passwords.minimum_complexity')
    .action(async (given: string | undefined, opts: RegisterOptions, cmd: Command) => {
      const asking = opts.yes !== true;
      if (asking && !interactive()) {
        throw new Error('refusing to create an account without --yes: there is no terminal to ask on (pass the username, the options and --yes)');
      }
      if (!asking && given === undefined) throw new Error('register-user --yes needs the username');
      const emails = (opts.email ?? []).map(emailArgument);
      await withDatabase(cmd, async (sql, config) => {
        if (opts.password !== undefined && !opts.ignorePasswordComplexity) {
          const weak = weakPasswordProblem(config, opts.password);
          if (weak) throw new Error(`${weak} (--ignore-password-complexity accepts it)`);
        }
        const homeserver = createHomeserverConnection(config.matrix);
        const username =
          given === undefined
            ? await askUntil(() => ask('Username: '), (answer) => checkUsername(sql, homeserver, answer))
            : await checkUsername(sql, homeserver, given);
        const mappings = await upstreamMappings(sql, config, opts.upstreamProviderMapping ?? []);
        if (asking) {
          await askForTheRest(config, opts, emails);
          console.log(`\nUser ${matrixUserId(username, config.matrix.homeserver)}`);
          if (opts.displayName !== undefined) console.log(`  display name: ${opts.displayName}`);
          for (const email of emails) console.log(`  e-mail: ${email}`);
          console.log(`  password: ${opts.password === undefined ? 'none' : 'set'}`);
          console.log(`  can request admin access: ${opts.admin ? 'yes' : 'no'}`);
          console.log(`\nThe same without questions:\n  ${equivalentCommand(username, opts, emails)}\n`);
          if (!(await confirm('Create this user?', false))) {
            console.error('nothing created');
            return;
          }
        }
        if (emails.length === 0) console.error('note: no e-mail address; the user can add one on the account page');
        if (opts.password === undefined && mappings.length === 0) console.error('note: no password and no upstream link; the user cannot sign in yet');
        const hashed = opts.password === undefined ? undefined : await new PasswordHasher(config.passwords).hash(opts.password);
        // The account and its links are all-or-nothing: a subject linked meanwhile undoes the account.
        const { user } = await sql.begin((tx) =>
          createAccount(tx, {
            username,
            displayName: opts.displayName,
            canRequestAdmin: opts.admin === true,
            password: hashed && { hash: hashed.hash, version: hashed.version },
            emails: emails.map((address) => ({ address, verified: true })),
            upstreamLinks: mappings,
          }),
        );
        console.log(`created ${matrixUserId(user.username, config.matrix.homeserver)} (id ${user.id})${opts.admin ? ' with admin rights' : ''}`);
        for (const m of mappings) console.log(`linked to subject ${JSON.stringify(m.subject)} of upstream provider ${m.providerId}`);
      });
    });
}
