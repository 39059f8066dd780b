// Workloads the login, mixed and soak benchmarks share: password logins and the size of
// Mauth's password pool.
import os from 'node:os';
import type { Config } from '../src/config/types.js';
import { introspect } from './harness.js';
import type { LoadRequest } from './load.js';

export const LOGIN_PATH = '/_matrix/client/v3/login';
export const LOGIN_PASSWORD = 'bench-login-password-0';

/**
 * How many password hashes Mauth's pool runs at once: `passwords.max_concurrency` when the
 * configuration has it, else its default, max(1, cores − 1).
 */
export function passwordConcurrency(config: Config): { value: number; source: string } {
  const configured = (config.passwords as { max_concurrency?: unknown }).max_concurrency;
  if (typeof configured === 'number' && configured > 0) return { value: configured, source: 'passwords.max_concurrency' };
  return { value: Math.max(1, os.cpus().length - 1), source: 'default max(1, cores - 1); passwords.max_concurrency not in this build' };
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

