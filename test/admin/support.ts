// What the admin API tests share: a Mauth serving `adminapi` with a static admin client, and a
// small client for the API (bearer token, JSON in and out).
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { startHomeserverDouble, type HomeserverDouble } from '../support/homeserver-double.js';
import { createInProcessMauth, type InProcessMauth } from '../support/mauth-inprocess.js';

/** A static confidential client listed in `policy.data.admin_clients`. */
export const ADMIN_CLIENT = { id: '01HADM1NC1ENT0000000000000', secret: 'admin-client-secret-0123456789' };
/** A static confidential client that is not. */
export const OTHER_CLIENT = { id: '01HC11ENT00THER00000000000', secret: 'other-client-secret-0123456789' };

export const STRONG_PASSWORD = 'Correct-Horse-Battery-Staple-42!';

export function adminConfig(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    clients: [
      { client_id: ADMIN_CLIENT.id, client_auth_method: 'client_secret_basic', client_secret: ADMIN_CLIENT.secret },
      { client_id: OTHER_CLIENT.id, client_auth_method: 'client_secret_post', client_secret: OTHER_CLIENT.secret },
    ],
    policy: { data: { admin_clients: [ADMIN_CLIENT.id] } },
    rate_limiting: {
      login: { per_ip: { burst: 10000, per_second: 1000 }, per_account: { burst: 10000, per_second: 1000 } },
      registration: { burst: 1000, per_second: 100 },
      username_availability: { burst: 10000, per_second: 1000 },
    },
    ...extra,
  };
}

/** A homeserver double and the secret it shares with Mauth. */
export type SharedHomeserver = HomeserverDouble & { secret: string };

export async function startHomeserver(serverName: string): Promise<SharedHomeserver> {
  const secret = randomBytes(16).toString('hex');
  return Object.assign(await startHomeserverDouble({ secret, serverName }), { secret });
}

export async function startAdminMauth(
  hs: SharedHomeserver,
  extra: Record<string, unknown> = {},
  options: { database?: Record<string, unknown>; databaseUrl?: string } = {},
): Promise<InProcessMauth> {
  const mauth = await createInProcessMauth({
    homeserverUrl: hs.url,
    serverName: hs.serverName,
    secret: hs.secret,
    resources: ['adminapi'],
    extra: adminConfig(extra),
    ...options,
  });
  await mauth.start();
  return mauth;
}

/** POST /oauth2/token with grant_type=client_credentials, the client authenticated by HTTP Basic. */
export async function clientCredentials(base: string, client: { id: string; secret: string }, scope: string) {
  const res = await fetch(`${base}/oauth2/token`, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      authorization: `Basic ${Buffer.from(`${client.id}:${client.secret}`).toString('base64')}`,
    },
    body: new URLSearchParams({ grant_type: 'client_credentials', scope }).toString(),
  });
  return { status: res.status, body: (await res.json()) as Record<string, any> };
}

export async function adminToken(base: string): Promise<string> {
  const { status, body } = await clientCredentials(base, ADMIN_CLIENT, 'urn:mas:admin');
  assert.equal(status, 200, JSON.stringify(body));
  return body.access_token as string;
}

export interface ApiAnswer {
  status: number;
  body: any;
  headers: Headers;
}

/** The admin API as a script calls it. Paths are below /api/admin/v1 unless they start with /api/. */
export class AdminApi {
  constructor(
    readonly base: string,
    public token: string | undefined,
  ) {}

  async call(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<ApiAnswer> {
    const url = `${this.base}${path.startsWith('/api/') ? path : `/api/admin/v1${path}`}`;
    const res = await fetch(url, {
      method,
      headers: {
        ...(this.token ? { authorization: `Bearer ${this.token}` } : {}),
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
        ...headers,
      },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      /* not JSON: kept as text */
    }
    return { status: res.status, body: parsed, headers: res.headers };
  }

  get = (path: string) => this.call('GET', path);
  post = (path: string, body?: unknown) => this.call('POST', path, body);
  put = (path: string, body?: unknown) => this.call('PUT', path, body);
  delete = (path: string) => this.call('DELETE', path);
}

/** Asserts MAS's error shape and returns the first title. */
export function errorTitle(answer: ApiAnswer): string {
  assert.ok(Array.isArray(answer.body?.errors) && answer.body.errors.length > 0, `error shape: ${JSON.stringify(answer.body)}`);
  assert.equal(typeof answer.body.errors[0].title, 'string');
  return answer.body.errors[0].title as string;
}

export async function compatLogin(base: string, username: string, password: string, deviceId?: string) {
  const res = await fetch(`${base}/_matrix/client/v3/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ type: 'm.login.password', identifier: { type: 'm.id.user', user: username }, password, ...(deviceId ? { device_id: deviceId } : {}) }),
  });
  return { status: res.status, body: (await res.json()) as Record<string, any> };
}
