// A stand-in for Synapse's `/_synapse/mas/*` API (synapse/rest/synapse/mas/ in Synapse), real HTTP
// on 127.0.0.1. It mirrors Synapse's answers, status codes and errcodes included:
//   - no token: 401 M_MISSING_TOKEN; a token that is not the shared secret: 403 M_UNKNOWN
//   - body not JSON: 400 M_NOT_JSON; not an object or wrong field types: 400 M_BAD_JSON;
//     exactly one required field missing: 400 M_MISSING_PARAM
//   - a user that does not exist: 404 M_NOT_FOUND (except provision_user, which creates it)
//   - unknown paths 404 M_UNRECOGNIZED, wrong method 405 M_UNRECOGNIZED
// Of the client API it serves what `mauth doctor` reads: `/_matrix/client/versions`, and, once
// `setAuthServer` names Mauth, `/_matrix/client/v1/auth_metadata` (and MSC2965's unstable path)
// answered as Synapse does with `matrix_authentication_service` on: Mauth's discovery document,
// fetched from `<auth server>/.well-known/openid-configuration`.
// It keeps the state those calls change and records every call.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface RecordedCall {
  method: string;
  /** The full path, e.g. `/_synapse/mas/provision_user`. */
  path: string;
  query: Record<string, string>;
  /** The parsed JSON body, the raw text when it is not JSON, or undefined when empty. */
  body: unknown;
  /** The Authorization header as received. */
  authorization: string | undefined;
  /** The status the double answered with. */
  status: number;
  at: Date;
  /**
   * The caller had closed its connection before the answer (it died or gave up while the call
   * was held or delayed): the effect took place, but the caller never learnt of it.
   */
  callerGone: boolean;
}

export interface DoubleUser {
  localpart: string;
  displayName: string | null;
  avatarUrl: string | null;
  emails: string[];
  /** The last `locked` sent to provision_user (Synapse itself ignores this field). */
  locked: boolean | undefined;
  deactivated: boolean;
  erased: boolean;
  suspended: boolean;
  /** When the last allow_cross_signing_reset lets a key reset without UIA until. */
  crossSigningResetAllowedUntil: Date | undefined;
}

export interface HomeserverDoubleOptions {
  secret: string;
  serverName: string;
  /** Localparts claimed by an application service: is_localpart_available says M_EXCLUSIVE. */
  exclusive?: RegExp[];
  /** Where `auth_metadata` comes from (Synapse's `matrix_authentication_service.endpoint`); see setAuthServer. */
  authServer?: string;
}

export interface HomeserverDouble {
  url: string;
  serverName: string;
  calls: RecordedCall[];
  users: Map<string, DoubleUser>;
  /** The device ids the user has now (a copy). */
  devices(localpart: string): Set<string>;
  deviceDisplayName(localpart: string, deviceId: string): string | null | undefined;
  /** Adds a user directly, as if it existed in Synapse before. */
  addUser(localpart: string, fields?: Partial<Omit<DoubleUser, 'localpart'>>): DoubleUser;
  /** Resolves with the first call, past or future, matching `predicate`. */
  waitFor(predicate: (call: RecordedCall) => boolean, timeoutMs?: number): Promise<RecordedCall>;
  /** The next `times` calls to `path` (`provision_user` or the full path) answer `status`. */
  failNext(path: string, times: number, status?: number, errcode?: string): void;
  /** Calls to `path` (`upsert_device` or the full path) answer `ms` later, as a stalled Synapse would; 0 ends that. */
  delay(path: string, ms: number): void;
  /**
   * Calls to `path` wait, as at a stalled Synapse, until `release()` is called: then every waiting
   * call is answered and later ones are answered at once. Lets a test stall the homeserver only as
   * long as it needs to look around, not for a fixed time.
   */
  hold(path: string): () => void;
  /** Turns on `auth_metadata`, proxied from this authorization server's discovery (undefined: off, 404). */
  setAuthServer(url: string | undefined): void;
  /** How many calls to `path` arrived and are not answered yet (delayed or held ones). */
  inFlight(path: string): number;
  stop(): Promise<void>;
}

const PREFIX = '/_synapse/mas/';
const MAX_DEVICE_DISPLAY_NAME_LEN = 100;
const CROSS_SIGNING_RESET_PERIOD_MS = 10 * 60 * 1000;

class MatrixError extends Error {
  constructor(
    readonly status: number,
    readonly errcode: string,
    message: string,
  ) {
    super(message);
  }
}

type FieldType = 'string' | 'string?' | 'boolean' | 'string[]' | 'string[]?';
type Schema = Record<string, { type: FieldType; required: boolean }>;

/** Pydantic-style validation as Synapse's RequestBodyModel does it; unknown fields are ignored. */
function validate(body: unknown, schema: Schema): Record<string, unknown> {
  if (!body || typeof body !== 'object' || Array.isArray(body)) {
    throw new MatrixError(400, 'M_BAD_JSON', 'Content must be a JSON object.');
  }
  const record = body as Record<string, unknown>;
  const problems: { field: string; missing: boolean }[] = [];
  for (const [field, { type, required }] of Object.entries(schema)) {
    const value = record[field];
    if (!(field in record)) {
      if (required) problems.push({ field, missing: true });
      continue;
    }
    const nullable = type.endsWith('?');
    if (value === null && nullable) continue;
    const ok =
      type.startsWith('string[]')
        ? Array.isArray(value) && value.every((v) => typeof v === 'string')
        : type.startsWith('string')
          ? typeof value === 'string'
          : typeof value === 'boolean';
    if (!ok) problems.push({ field, missing: false });
  }
  if (problems.length === 1 && problems[0].missing) {
    throw new MatrixError(400, 'M_MISSING_PARAM', `${problems[0].field}: field required`);
  }
  if (problems.length > 0) {
    throw new MatrixError(400, 'M_BAD_JSON', problems.map((p) => `${p.field}: ${p.missing ? 'field required' : 'invalid type'}`).join('; '));
  }
  return record;
}

const field = (type: FieldType, required = true) => ({ type, required });

/** Synapse's RegistrationHandler.check_username, minus the database-specific parts. */
function checkUsername(localpart: string, serverName: string): void {
  if (!/^[a-z0-9._=\-/+]*$/.test(localpart)) {
    throw new MatrixError(400, 'M_INVALID_USERNAME', "User ID can only contain characters a-z, 0-9, or '=_-./+'");
  }
  if (!localpart) throw new MatrixError(400, 'M_INVALID_USERNAME', 'User ID cannot be empty');
  if (localpart.startsWith('_')) throw new MatrixError(400, 'M_INVALID_USERNAME', 'User ID may not begin with _');
  if (`@${localpart}:${serverName}`.length > 255) {
    throw new MatrixError(400, 'M_INVALID_USERNAME', 'User ID may not be longer than 255 characters');
  }
  if (/^[0-9]+$/.test(localpart)) {
    throw new MatrixError(400, 'M_INVALID_USERNAME', 'Numeric user IDs are reserved for guest users.');
  }
}

export async function startHomeserverDouble(options: HomeserverDoubleOptions): Promise<HomeserverDouble> {
  const calls: RecordedCall[] = [];
  const users = new Map<string, DoubleUser>();
  const devices = new Map<string, Map<string, { displayName: string | null }>>();
  const failures = new Map<string, { times: number; status: number; errcode: string }>();
  const delays = new Map<string, number>();
  const holds = new Map<string, Promise<void>>();
  const pending = new Map<string, number>();
  const waiters = new Set<{ predicate: (call: RecordedCall) => boolean; resolve: (call: RecordedCall) => void }>();
  let authServer = options.authServer;

  /** The client API paths Synapse serves without authentication that the double knows. */
  async function clientApi(method: string, path: string): Promise<{ status: number; json?: unknown } | undefined> {
    const metadata = ['/_matrix/client/v1/auth_metadata', '/_matrix/client/unstable/org.matrix.msc2965/auth_metadata'];
    if (path === '/_matrix/client/versions') {
      if (method !== 'GET') throw new MatrixError(405, 'M_UNRECOGNIZED', 'Unrecognized request');
      return { status: 200, json: { versions: ['v1.11', 'v1.12', 'v1.13'], unstable_features: {} } };
    }
    if (!metadata.includes(path) || authServer === undefined) return undefined;
    if (method !== 'GET') throw new MatrixError(405, 'M_UNRECOGNIZED', 'Unrecognized request');
    try {
      const response = await fetch(`${authServer.replace(/\/+$/, '')}/.well-known/openid-configuration`);
      if (!response.ok) throw new Error(`status ${response.status}`);
      return { status: 200, json: await response.json() };
    } catch {
      throw new MatrixError(500, 'M_UNKNOWN', 'Internal server error');
    }
  }

  function newUser(localpart: string, fields: Partial<Omit<DoubleUser, 'localpart'>> = {}): DoubleUser {
    const user: DoubleUser = {
      localpart,
      displayName: null,
      avatarUrl: null,
      emails: [],
      locked: undefined,
      deactivated: false,
      erased: false,
      suspended: false,
      crossSigningResetAllowedUntil: undefined,
      ...fields,
    };
    users.set(localpart, user);
    if (!devices.has(localpart)) devices.set(localpart, new Map());
    return user;
  }

  function existingUser(localpart: string): DoubleUser {
    const user = users.get(localpart);
    if (!user) throw new MatrixError(404, 'M_NOT_FOUND', 'User not found');
    return user;
  }

  function userDevices(localpart: string): Map<string, { displayName: string | null }> {
    let map = devices.get(localpart);
    if (!map) devices.set(localpart, (map = new Map()));
    return map;
  }

  type Handler = (req: { query: Record<string, string>; body: () => Record<string, unknown> }) => {
    status: number;
    json?: unknown;
  };

  const routes: Record<string, { method: 'GET' | 'POST'; handle: Handler }> = {
    query_user: {
      method: 'GET',
      handle: ({ query }) => {
        const localpart = query.localpart;
        if (localpart === undefined) {
          throw new MatrixError(400, 'M_MISSING_PARAM', "Missing string query parameter 'localpart'");
        }
        const user = existingUser(localpart);
        return {
          status: 200,
          json: {
            user_id: `@${localpart}:${options.serverName}`,
            display_name: user.displayName,
            avatar_url: user.avatarUrl,
            is_suspended: user.suspended,
            is_deactivated: user.deactivated,
          },
        };
      },
    },

    is_localpart_available: {
      method: 'GET',
      handle: ({ query }) => {
        const localpart = query.localpart;
        if (localpart === undefined) throw new MatrixError(400, 'M_UNKNOWN', 'Missing localpart');
        checkUsername(localpart, options.serverName);
        if (options.exclusive?.some((re) => re.test(localpart))) {
          throw new MatrixError(400, 'M_EXCLUSIVE', 'This user ID is reserved by an application service.');
        }
        if (users.has(localpart)) throw new MatrixError(400, 'M_USER_IN_USE', 'User ID already taken.');
        return { status: 200, json: {} };
      },
    },

    provision_user: {
      method: 'POST',
      handle: ({ body }) => {
        const raw = body();
        const b = validate(raw, {
          localpart: field('string'),
          unset_displayname: field('boolean', false),
          set_displayname: field('string?', false),
          unset_avatar_url: field('boolean', false),
          set_avatar_url: field('string?', false),
          unset_emails: field('boolean', false),
          set_emails: field('string[]?', false),
        });
        // Synapse checks that the keys are not both present, whatever their values.
        for (const name of ['displayname', 'avatar_url', 'emails']) {
          if (`unset_${name}` in b && `set_${name}` in b) {
            throw new MatrixError(400, 'M_BAD_JSON', `Cannot specify both unset_${name} and set_${name}`);
          }
        }
        const localpart = b.localpart as string;
        const setDisplayname = (b.set_displayname ?? undefined) as string | undefined;
        const setAvatar = (b.set_avatar_url ?? undefined) as string | undefined;
        const setEmails = (b.set_emails ?? undefined) as string[] | undefined;
        const locked = typeof raw.locked === 'boolean' ? raw.locked : undefined;
        let user = users.get(localpart);
        let created = false;
        if (!user) {
          checkUsername(localpart, options.serverName);
          created = true;
          // register_user: the display name defaults to the localpart; e-mails are bound as given.
          user = newUser(localpart, { displayName: setDisplayname ?? localpart, emails: [...new Set(setEmails ?? [])] });
        } else {
          if (b.unset_displayname === true) user.displayName = null;
          else if (setDisplayname !== undefined) user.displayName = setDisplayname;
          if (b.unset_emails === true) user.emails = [];
          else if (setEmails !== undefined) user.emails = [...new Set(setEmails)];
        }
        if (b.unset_avatar_url === true) user.avatarUrl = null;
        else if (setAvatar !== undefined) user.avatarUrl = setAvatar;
        if (locked !== undefined) user.locked = locked;
        return { status: created ? 201 : 200, json: {} };
      },
    },

    delete_user: {
      method: 'POST',
      handle: ({ body }) => {
        const b = validate(body(), { localpart: field('string'), erase: field('boolean') });
        const user = existingUser(b.localpart as string);
        user.deactivated = true;
        user.emails = [];
        userDevices(user.localpart).clear();
        if (b.erase === true) {
          user.erased = true;
          user.displayName = null;
          user.avatarUrl = null;
        }
        return { status: 200, json: {} };
      },
    },

    reactivate_user: {
      method: 'POST',
      handle: ({ body }) => {
        const b = validate(body(), { localpart: field('string') });
        const user = existingUser(b.localpart as string);
        user.deactivated = false;
        user.erased = false;
        return { status: 200, json: {} };
      },
    },

    set_displayname: {
      method: 'POST',
      handle: ({ body }) => {
        const b = validate(body(), { localpart: field('string'), displayname: field('string') });
        const user = existingUser(b.localpart as string);
        // Synapse stores an empty display name as none.
        user.displayName = (b.displayname as string) || null;
        return { status: 200, json: {} };
      },
    },

    unset_displayname: {
      method: 'POST',
      handle: ({ body }) => {
        const b = validate(body(), { localpart: field('string') });
        existingUser(b.localpart as string).displayName = null;
        return { status: 200, json: {} };
      },
    },

    allow_cross_signing_reset: {
      method: 'POST',
      handle: ({ body }) => {
        const b = validate(body(), { localpart: field('string') });
        existingUser(b.localpart as string).crossSigningResetAllowedUntil = new Date(
          Date.now() + CROSS_SIGNING_RESET_PERIOD_MS,
        );
        return { status: 200, json: {} };
      },
    },

    upsert_device: {
      method: 'POST',
      handle: ({ body }) => {
        const b = validate(body(), {
          localpart: field('string'),
          device_id: field('string'),
          display_name: field('string?', false),
        });
        const user = existingUser(b.localpart as string);
        const map = userDevices(user.localpart);
        const deviceId = b.device_id as string;
        const displayName = (b.display_name ?? null) as string | null;
        const existing = map.get(deviceId);
        if (existing) {
          if (displayName !== null) existing.displayName = displayName;
          return { status: 200, json: {} };
        }
        map.set(deviceId, { displayName });
        return { status: 201, json: {} };
      },
    },

    update_device_display_name: {
      method: 'POST',
      handle: ({ body }) => {
        const b = validate(body(), {
          localpart: field('string'),
          device_id: field('string'),
          display_name: field('string'),
        });
        const user = existingUser(b.localpart as string);
        const displayName = b.display_name as string;
        if (displayName.length > MAX_DEVICE_DISPLAY_NAME_LEN) {
          throw new MatrixError(400, 'M_TOO_LARGE', `Device display name is too long (max ${MAX_DEVICE_DISPLAY_NAME_LEN})`);
        }
        const device = userDevices(user.localpart).get(b.device_id as string);
        if (!device) throw new MatrixError(404, 'M_NOT_FOUND', 'Not found');
        device.displayName = displayName;
        return { status: 200, json: {} };
      },
    },

    delete_device: {
      method: 'POST',
      handle: ({ body }) => {
        const b = validate(body(), { localpart: field('string'), device_id: field('string') });
        const user = existingUser(b.localpart as string);
        userDevices(user.localpart).delete(b.device_id as string);
        return { status: 204 };
      },
    },

    sync_devices: {
      method: 'POST',
      handle: ({ body }) => {
        const b = validate(body(), { localpart: field('string'), devices: field('string[]') });
        const user = existingUser(b.localpart as string);
        const map = userDevices(user.localpart);
        const target = new Set(b.devices as string[]);
        for (const id of [...map.keys()]) if (!target.has(id)) map.delete(id);
        for (const id of target) if (!map.has(id)) map.set(id, { displayName: null });
        return { status: 200, json: {} };
      },
    },
  };

  /** Synapse's get_access_token_from_request followed by assert_request_is_from_mas. */
  function authenticate(req: IncomingMessage, query: Record<string, string>): void {
    const header = req.headers.authorization;
    let token: string;
    if (header !== undefined) {
      if (query.access_token !== undefined) {
        throw new MatrixError(401, 'M_MISSING_TOKEN', 'Mixing Authorization headers and access_token query parameters.');
      }
      const parts = header.split(' ');
      if (parts[0] !== 'Bearer' || parts.length !== 2) {
        throw new MatrixError(401, 'M_MISSING_TOKEN', 'Invalid Authorization header.');
      }
      token = parts[1];
    } else if (query.access_token) {
      token = query.access_token;
    } else {
      throw new MatrixError(401, 'M_MISSING_TOKEN', 'Missing access token.');
    }
    if (!options.secret || token !== options.secret) {
      throw new MatrixError(403, 'M_UNKNOWN', 'This endpoint must only be called by MAS');
    }
  }

  function send(res: ServerResponse, status: number, json?: unknown): void {
    if (status === 204 || json === undefined) {
      res.writeHead(status).end();
      return;
    }
    const text = JSON.stringify(json);
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) }).end(text);
  }

  function record(call: RecordedCall): void {
    calls.push(call);
    for (const waiter of [...waiters]) {
      if (waiter.predicate(call)) {
        waiters.delete(waiter);
        waiter.resolve(call);
      }
    }
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let callerGone = false;
    res.once('close', () => {
      if (!res.writableEnded) callerGone = true;
    });
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const text = Buffer.concat(chunks).toString('utf8');
    const url = new URL(req.url ?? '/', 'http://double');
    const query = Object.fromEntries(url.searchParams);
    const delayMs = delays.get(url.pathname) ?? 0;
    const held = holds.get(url.pathname);
    if (delayMs > 0 || held) {
      pending.set(url.pathname, (pending.get(url.pathname) ?? 0) + 1);
      await Promise.all([held, delayMs > 0 ? new Promise((r) => setTimeout(r, delayMs)) : undefined]);
      pending.set(url.pathname, (pending.get(url.pathname) ?? 1) - 1);
    }
    let parsed: { ok: true; value: unknown } | { ok: false } = { ok: false };
    try {
      parsed = { ok: true, value: JSON.parse(text) };
    } catch {
      parsed = { ok: false };
    }

    let status: number;
    let json: unknown;
    try {
      const failure = failures.get(url.pathname);
      const name = url.pathname.startsWith(PREFIX) ? url.pathname.slice(PREFIX.length) : undefined;
      const route = name !== undefined && Object.hasOwn(routes, name) ? routes[name] : undefined;
      if (failure && failure.times > 0) {
        failure.times -= 1;
        throw new MatrixError(failure.status, failure.errcode, 'Injected failure');
      }
      const client = name === undefined ? await clientApi(req.method ?? 'GET', url.pathname) : undefined;
      if (client) {
        send(res, client.status, client.json);
        record({ method: req.method ?? 'GET', path: url.pathname, query, body: undefined, authorization: req.headers.authorization, status: client.status, at: new Date(), callerGone });
        return;
      }
      if (!route) throw new MatrixError(404, 'M_UNRECOGNIZED', 'Unrecognized request');
      if (req.method !== route.method) throw new MatrixError(405, 'M_UNRECOGNIZED', 'Unrecognized request');
      authenticate(req, query);
      ({ status, json } = route.handle({
        query,
        body: () => {
          if (!parsed.ok) throw new MatrixError(400, 'M_NOT_JSON', 'Content not JSON.');
          return parsed.value as Record<string, unknown>;
        },
      }));
    } catch (err) {
      if (!(err instanceof MatrixError)) throw err;
      status = err.status;
      json = { errcode: err.errcode, error: err.message };
    }
    send(res, status, json);
    record({
      method: req.method ?? 'GET',
      path: url.pathname,
      query,
      body: text.length === 0 ? undefined : parsed.ok ? parsed.value : text,
      authorization: req.headers.authorization,
      status,
      at: new Date(),
      callerGone,
    });
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) send(res, 500, { errcode: 'M_UNKNOWN', error: String(err) });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    serverName: options.serverName,
    calls,
    users,
    devices: (localpart) => new Set(devices.get(localpart)?.keys() ?? []),
    deviceDisplayName: (localpart, deviceId) => devices.get(localpart)?.get(deviceId)?.displayName,
    addUser: (localpart, fields) => newUser(localpart, fields),
    waitFor(predicate, timeoutMs = 5000) {
      const seen = calls.find(predicate);
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const waiter = {
          predicate,
          resolve: (call: RecordedCall) => {
            clearTimeout(timer);
            resolve(call);
          },
        };
        const timer = setTimeout(() => {
          waiters.delete(waiter);
          const seenCalls = calls.map((c) => `${c.method} ${c.path} → ${c.status}`).join(', ') || 'none';
          reject(new Error(`no matching homeserver call within ${timeoutMs} ms (calls: ${seenCalls})`));
        }, timeoutMs);
        waiters.add(waiter);
      });
    },
    failNext(path, times, status = 500, errcode = 'M_UNKNOWN') {
      const full = path.startsWith('/') ? path : `${PREFIX}${path}`;
      failures.set(full, { times, status, errcode });
    },
    delay(path, ms) {
      delays.set(path.startsWith('/') ? path : `${PREFIX}${path}`, ms);
    },
    hold(path) {
      const full = path.startsWith('/') ? path : `${PREFIX}${path}`;
      let open!: () => void;
      const gate = new Promise<void>((resolve) => (open = resolve));
      holds.set(full, gate);
      return () => {
        if (holds.get(full) === gate) holds.delete(full);
        open();
      };
    },
    inFlight: (path) => pending.get(path.startsWith('/') ? path : `${PREFIX}${path}`) ?? 0,
    setAuthServer(url) {
      authServer = url;
    },
    async stop() {
      // A test may have stopped it already (to play a homeserver that is down).
      if (!server.listening) return;
      await new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
      });
    },
  };
}
