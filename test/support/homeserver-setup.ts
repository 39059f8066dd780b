// The set-up most black-box tests share: a homeserver double, optionally a mail catcher, one Mauth
// (a child process, or in this process with a movable clock) wired to both, the accounts the
// tests sign in as (made with the CLI before the server starts), and optionally a registered
// native client. `stop()` tears everything down in the right order.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { startHomeserverDouble, type HomeserverDouble } from './homeserver-double.js';
import { createInProcessMauth, type InProcessMauth } from './mauth-inprocess.js';
import { createMauth, type MauthInstance } from './mauth-process.js';
import { registerNativeClient, type RegisteredClient } from './oauth-client.js';
import { startSmtp, type SmtpCatcher } from './smtp.js';

export interface SetupUser {
  name: string;
  password: string;
  /** A verified address added with the account. */
  email?: string;
  admin?: boolean;
}

export interface SetupOptions {
  serverName: string;
  /** Accounts created with `mauth manage register-user` before the server starts. */
  users?: SetupUser[];
  /** Start a mail catcher and send mail to it from this address. */
  mailFrom?: string;
  /** Mauth configuration merged at the top level (keys of an `email` section here go beside the catcher's). */
  extra?: Record<string, unknown>;
  /** Keys added to the `database` section (pool size, timeouts). */
  database?: Record<string, unknown>;
  /** Resources the test listener serves beside the usual ones. */
  resources?: string[];
  /** Register a native (public, PKCE) client once the server is up. */
  nativeClient?: boolean;
  /** Runs after the accounts are made, before the server starts. */
  beforeStart?: (setup: { hs: HomeserverDouble; cli: MauthInstance['cli'] }) => Promise<void>;
}

export interface Setup<M> {
  hs: HomeserverDouble;
  mauth: M;
  /** The mail catcher (only with `mailFrom`). */
  smtp: SmtpCatcher;
  /** The native client (only with `nativeClient`). */
  client: RegisteredClient;
  stop(): Promise<void>;
}

async function start<M extends Pick<MauthInstance, 'url' | 'cli' | 'stop' | 'drop'> & { start(): Promise<void> }>(
  options: SetupOptions,
  create: typeof createMauth | typeof createInProcessMauth,
): Promise<Setup<M>> {
  const secret = randomBytes(16).toString('hex');
  const hs = await startHomeserverDouble({ secret, serverName: options.serverName });
  const smtp = options.mailFrom !== undefined ? await startSmtp() : undefined;
  const extra = { ...options.extra };
  if (smtp) extra.email = { transport: 'smtp', mode: 'plain', hostname: '127.0.0.1', port: smtp.port, from: options.mailFrom, ...(extra.email as object | undefined) };
  const mauth = (await create({
    homeserverUrl: hs.url,
    serverName: options.serverName,
    secret,
    extra,
    ...(options.database ? { database: options.database } : {}),
    ...(options.resources ? { resources: options.resources } : {}),
  })) as unknown as M;
  for (const user of options.users ?? []) {
    const args = ['manage', 'register-user', user.name, '--password', user.password];
    if (user.email) args.push('--email', user.email);
    if (user.admin) args.push('--admin');
    const made = await mauth.cli(...args, '--yes');
    assert.equal(made.code, 0, made.stderr);
  }
  await options.beforeStart?.({ hs, cli: mauth.cli });
  await mauth.start();
  const client = options.nativeClient ? await registerNativeClient(mauth.url) : undefined;
  return {
    hs,
    mauth,
    get smtp(): SmtpCatcher {
      assert.ok(smtp, 'this set-up has no mail catcher (mailFrom)');
      return smtp;
    },
    get client(): RegisteredClient {
      assert.ok(client, 'this set-up registered no client (nativeClient)');
      return client;
    },
    async stop() {
      await mauth.stop();
      await mauth.drop();
      await smtp?.stop().catch(() => {});
      await hs.stop();
    },
  };
}

/** Mauth as a child process (`mauth server`), as operators run it. */
export function startSetup(options: SetupOptions): Promise<Setup<MauthInstance>> {
  return start<MauthInstance>(options, createMauth);
}

/** Mauth in the test's process, with a clock the test moves and a view of its jobs. */
export function startInProcessSetup(options: SetupOptions): Promise<Setup<InProcessMauth>> {
  return start<InProcessMauth>(options, createInProcessMauth);
}
