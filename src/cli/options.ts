// Shared CLI plumbing: which config files a command reads, loading them, the logger.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import type { Command } from 'commander';
import pino, { type Logger } from 'pino';
import { loadConfig } from '../config/load.js';
import { generateConfig } from '../config/generate.js';
import type { Config } from '../config/types.js';
import { migrationState } from '../storage/migrate.js';
import { openDatabase } from '../storage/open.js';
import type { Sql } from '../storage/db.js';
import * as users from '../storage/users.js';

export const DEV_CONFIG_PATH = 'data/config.yaml';

/** Whether MAUTH_CONFIG, or MAS's MAS_CONFIG, names the configuration files. */
export function configFromEnvironment(): boolean {
  return Boolean(process.env.MAUTH_CONFIG || process.env.MAS_CONFIG);
}

export function configFiles(cmd: Command): string[] | undefined {
  const files = cmd.optsWithGlobals().config as string[] | undefined;
  if (files?.length) return files;
  if (configFromEnvironment()) return undefined; // loadConfig reads it
  if (existsSync('config.yaml')) return ['config.yaml'];
  if (existsSync(DEV_CONFIG_PATH)) return [DEV_CONFIG_PATH];
  return undefined;
}

/** Whether the optional pretty printer is installed (it is left out of slim production installs). */
function prettyAvailable(): boolean {
  try {
    createRequire(import.meta.url).resolve('pino-pretty');
    return true;
  } catch {
    return false;
  }
}

/** JSON lines, except on a terminal (and with MAUTH_LOG_FORMAT unset or `pretty`), where people read them. */
export function createLogger(): Logger {
  const format = process.env.MAUTH_LOG_FORMAT ?? (process.stdout.isTTY ? 'pretty' : 'json');
  const pretty = format === 'pretty' && prettyAvailable();
  return pino({
    level: process.env.MAUTH_LOG_LEVEL ?? 'info',
    base: { service: 'mauth' },
    redact: { paths: ['*.password', '*.token', '*.secret', 'req.headers.authorization', 'req.headers.cookie'], censor: '<redacted>' },
    ...(pretty ? { transport: { target: 'pino-pretty', options: { translateTime: 'SYS:HH:MM:ss.l', ignore: 'service,pid,hostname' } } } : {}),
  });
}

export async function loadCommandConfig(cmd: Command, options: { generateIfMissing?: boolean; log?: Logger } = {}): Promise<Config> {
  let files = configFiles(cmd);
  if (!files && !configFromEnvironment()) {
    if (!options.generateIfMissing) {
      throw new Error('no configuration: pass -c config.yaml, set MAUTH_CONFIG (or MAS_CONFIG), or create ./config.yaml (mauth config generate > config.yaml)');
    }
    await mkdir(dirname(resolve(DEV_CONFIG_PATH)), { recursive: true });
    await writeFile(DEV_CONFIG_PATH, await generateConfig({ embedded: true }), { mode: 0o600 });
    options.log?.warn({ path: DEV_CONFIG_PATH }, 'no configuration found: generated a development configuration');
    files = [DEV_CONFIG_PATH];
  }
  return loadConfig({
    files,
    env: process.env,
    onWarning: (problem) => options.log?.warn({ key: problem.key, file: problem.file }, `configuration: ${problem.key}: ${problem.message}`),
  });
}

/**
 * A dry run writes nothing, pending migrations included: it refuses a database that is not
 * migrated rather than migrate it.
 */
export async function requireMigrated(sql: Sql): Promise<void> {
  const { pending } = await migrationState(sql);
  if (pending.length > 0) {
    throw new Error(`the database is not migrated (${pending.length} migration${pending.length === 1 ? '' : 's'} pending): run mauth database migrate first; a dry run changes nothing`);
  }
}

/**
 * Runs `run` with the configured database open, closing it afterwards. It is migrated first,
 * unless `dryRun`: then an unmigrated database is refused (requireMigrated).
 */
export async function withDatabase<T>(cmd: Command, run: (sql: Sql, config: Config) => Promise<T>, options: { dryRun?: boolean } = {}): Promise<T> {
  const config = await loadCommandConfig(cmd);
  const log = pino({ level: 'warn' });
  const db = await openDatabase(config, log, options.dryRun !== true);
  try {
    if (options.dryRun) await requireMigrated(db.sql);
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
