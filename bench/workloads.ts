// Workloads the login, mixed and soak benchmarks share: password logins, the size of Mauth's
// password pool, and the mixed homeserver workload.
import os from 'node:os';
import { PasswordHasher } from '../src/accounts/passwords.js';
import type { Config } from '../src/config/types.js';
import { ROUTES } from '../src/oidc/provider.js';
import { seedPasswordUsers, type BenchDatabase } from './fixtures.js';
import {
  envNumber,
  introspect,
  introspectionRequests,
  LoadGenerator,
  log,
  seededDatabase,
  startHomeserverStub,
  startMauth,
  type BenchMauth,
  type Cleanups,
} from './harness.js';
import type { LoadJob, LoadRequest, LoadSummary } from './load.js';
import { moreSessions, openRefreshSessions, settleChains } from './sessions.js';

export const LOGIN_PATH = '/_matrix/client/v3/login';
export const LOGIN_PASSWORD = 'bench-login-password-0';

/**
 * How many password hashes Mauth's pool runs at once: `passwords.max_concurrency` when the
 * configuration has it, else its default, max(1, cores − 1).
 */
export function passwordConcurrency(config: Config): { value: number; source: string } {
  const configured = (config.passwords as { max_concurrency?: unknown }).max_concurrency;
  if (typeof configured === 'number' && configured > 0) return { value: configured, source: 'passwords.max_concurrency' };
  return { value: Math.max(1, os.cpus().length - 1), source: 'passwords.max_concurrency unset: its default, max(1, cores - 1)' };
}

/** One login request per user, rotated over the connections (each login makes a new device). */
export function loginRequests(usernames: string[]): LoadRequest[] {
  return usernames.map((user) => ({
    method: 'POST',
    path: LOGIN_PATH,
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ type: 'm.login.password', identifier: { type: 'm.id.user', user }, password: LOGIN_PASSWORD }),
  }));
}

/** A login must answer a user id, a working access token and a device. */
export async function checkLogin(url: string, secret: string, username: string): Promise<void> {
  const res = await fetch(`${url}${LOGIN_PATH}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: loginRequests([username])[0].body });
  const body = (await res.json()) as Record<string, unknown>;
  if (res.status !== 200 || typeof body.access_token !== 'string' || typeof body.device_id !== 'string') {
    throw new Error(`login answered ${res.status}: ${JSON.stringify(body)}`);
  }
  const info = await introspect(url, secret, body.access_token);
  if (info.active !== true || info.username !== username || info.device_id !== body.device_id) {
    throw new Error(`the access token of a login does not introspect as its user and device: ${JSON.stringify(info)}`);
  }
}


// --- the mixed homeserver workload (mixed and soak) ---------------------------------------------

/** Shares of the mixed workload (issue 15): what a homeserver's clients make Mauth do. */
export const MIX = { introspection: 0.95, refresh: 0.04, login: 0.01 } as const;
export type Kind = keyof typeof MIX;
export const KINDS = Object.keys(MIX) as Kind[];

export interface MixedSettings {
  /** Requests per second, all kinds together. */
  rate: number;
  tokens: number;
  /** Lifetime of the stored access tokens (the soak needs them to outlive it). */
  tokenLifetime: number;
  users: number;
  /** Connections per kind. */
  connections: Record<Kind, number>;
  shards: number;
  spares: number;
  poolSize: number;
}

export interface MixedSetup {
  db: BenchDatabase;
  mauth: BenchMauth;
  tokens: string[];
  load: LoadGenerator;
  /** The three jobs side by side for `duration` seconds (refresh chains carried over between runs). */
  run(duration: number, intervalSeconds?: number, progress?: (kind: Kind, s: LoadSummary) => void): Promise<Record<Kind, LoadSummary>>;
  /** Rate per kind, requests per second. */
  rates: Record<Kind, number>;
  passwordPool: { value: number; source: string };
}

/** Rate of each kind: its share of the total, at least 1/s. */
export function ratesOf(total: number): Record<Kind, number> {
  return Object.fromEntries(KINDS.map((k) => [k, Math.max(1, Math.round(total * MIX[k]))])) as Record<Kind, number>;
}

/**
 * A database with stored access tokens (introspection), password users (logins) and refresh
 * chains opened through the real authorization code flow (refreshes); Mauth in this process with
 * its job worker, as deployed; the homeserver stand-in and the load generator in children.
 */
export async function setupMixed(settings: MixedSettings, cleanups: Cleanups): Promise<MixedSetup> {
  const { db, tokens } = await seededDatabase(settings.tokens, cleanups, settings.tokenLifetime);
  const homeserver = await startHomeserverStub(cleanups);
  const mauth = await startMauth(
    { database: { uri: db.url }, homeserverUrl: homeserver, resources: ['compat', 'human', 'discovery', 'assets'], poolSize: settings.poolSize, worker: true },
    cleanups,
  );
  const hasher = new PasswordHasher(mauth.config.passwords);
  log(`storing ${settings.users} users with a password`);
  const { usernames } = await seedPasswordUsers(db.url, hasher, 'login', settings.users, LOGIN_PASSWORD);
  await checkLogin(mauth.url, mauth.secret, usernames[0]);
  const sessions = settings.connections.refresh + settings.spares;
  log(`opening ${sessions} sessions through the authorization code flow`);
  const chains = await openRefreshSessions(mauth.url, { username: usernames[0], password: LOGIN_PASSWORD }, sessions);
  const clientId = chains.client.client_id;
  let refreshTokens = chains.tokens;
  const first = await introspect(mauth.url, mauth.secret, tokens[0]);
  if (first.active !== true) throw new Error(`a stored access token is not active: ${JSON.stringify(first)}`);

  const passwordPool = passwordConcurrency(mauth.config);
  const load = LoadGenerator.start({ threads: passwordPool.value });
  cleanups.push(() => load.stop());
  const rates = ratesOf(settings.rate);
  const introspection = introspectionRequests(mauth.secret, tokens);
  const refresh = [{ method: 'POST' as const, path: ROUTES.token, headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: '' }];
  const logins = loginRequests(usernames);

  return {
    db,
    mauth,
    tokens,
    load,
    rates,
    passwordPool,
    async run(duration, intervalSeconds, progress) {
      const job = (kind: Kind, path: string, requests: LoadRequest[]): LoadJob => ({
        url: `${mauth.url}${path}`,
        connections: settings.connections[kind],
        duration,
        rate: rates[kind],
        shards: Math.min(settings.shards, settings.connections[kind]),
        requests,
        intervalSeconds,
      });
      const report = (kind: Kind) => (progress ? (s: LoadSummary) => progress(kind, s) : undefined);
      const [i, r, l] = await Promise.all([
        load.run(job('introspection', ROUTES.introspection, introspection), report('introspection')),
        load.run({ ...job('refresh', ROUTES.token, refresh), refresh: { clientId, tokens: refreshTokens } }, report('refresh')),
        load.run(job('login', LOGIN_PATH, logins), report('login')),
      ]);
      const settled = await settleChains(mauth.url, clientId, r.uncertainTokens ?? []);
      refreshTokens = [...(r.refreshTokens ?? []), ...settled];
      if (refreshTokens.length < settings.connections.refresh) {
        log(`refresh chains running out (${refreshTokens.length} left): opening more`);
        const more = await moreSessions(mauth.url, chains.client, { username: usernames[0], password: LOGIN_PASSWORD }, sessions - refreshTokens.length);
        refreshTokens.push(...more.tokens);
      }
      return { introspection: i, refresh: r, login: l };
    },
  };
}

export function mixedSettings(): MixedSettings {
  return {
    rate: envNumber('BENCH_RATE', 1000),
    tokens: envNumber('BENCH_TOKENS', 1000),
    tokenLifetime: 3600,
    users: envNumber('BENCH_USERS', 50),
    connections: { introspection: envNumber('BENCH_CONNECTIONS', 50), refresh: envNumber('BENCH_REFRESH_CONNECTIONS', 10), login: envNumber('BENCH_LOGIN_CONNECTIONS', 4) },
    shards: envNumber('BENCH_SHARDS', 50),
    spares: envNumber('BENCH_SPARES', 10),
    poolSize: 10,
  };
}
