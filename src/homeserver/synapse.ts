// Synapse's `/_synapse/mas/*` API (Synapse ≥ 1.136 with `matrix_authentication_service` enabled),
// spoken exactly as MAS speaks it: bearer shared secret, JSON bodies, and flags such as
// `unset_displayname` left out rather than sent as `false` (Synapse rejects a request that names
// both `set_x` and `unset_x`, whatever their values).
import { matrixUserId } from '../domain/usernames.js';
import {
  HomeserverError,
  type HomeserverConnection,
  type LocalpartAvailability,
  type MatrixUser,
  type ProvisionRequest,
} from './connection.js';

export const DEFAULT_TIMEOUT_MS = 10_000;

/** The errcodes with which `is_localpart_available` says "no" rather than "failed". */
const UNAVAILABLE_ERRCODES = new Set(['M_USER_IN_USE', 'M_INVALID_USERNAME', 'M_EXCLUSIVE']);

export interface SynapseConnectionOptions {
  /** The homeserver's server name, the part after `:` in user ids. */
  serverName: string;
  /** Base URL Synapse is reached at (`matrix.endpoint`), with or without a trailing slash. */
  endpoint: string;
  /** The shared secret (`matrix.secret`). */
  secret: string;
  timeoutMs?: number;
}

export class SynapseConnection implements HomeserverConnection {
  readonly serverName: string;
  readonly #base: URL;
  // A private field, so neither util.inspect nor JSON.stringify of the connection shows it.
  readonly #secret: string;
  readonly #timeoutMs: number;

  constructor(options: SynapseConnectionOptions) {
    this.serverName = options.serverName;
    const endpoint = options.endpoint.endsWith('/') ? options.endpoint : `${options.endpoint}/`;
    this.#base = new URL('_synapse/mas/', endpoint);
    this.#secret = options.secret;
    this.#timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  }

  mxid(localpart: string): string {
    return matrixUserId(localpart, this.serverName);
  }

  async queryUser(localpart: string): Promise<MatrixUser | undefined> {
    try {
      const { status, body } = await this.#request('GET', 'query_user', { query: { localpart } });
      if (!body || typeof body !== 'object' || typeof (body as MatrixUser).user_id !== 'string') {
        throw new HomeserverError(status, undefined, 'homeserver GET query_user returned an unexpected body');
      }
      const user = body as MatrixUser;
      return {
        user_id: user.user_id,
        display_name: user.display_name ?? null,
        avatar_url: user.avatar_url ?? null,
        is_suspended: user.is_suspended === true,
        is_deactivated: user.is_deactivated === true,
      };
    } catch (err) {
      // Only Synapse's "User not found": a 404 M_UNRECOGNIZED (MAS support off, wrong endpoint)
      // or a proxy's 404 page must not read as "this user does not exist".
      if (err instanceof HomeserverError && err.status === 404 && err.errcode === 'M_NOT_FOUND') return undefined;
      throw err;
    }
  }

  async isLocalpartAvailable(localpart: string): Promise<LocalpartAvailability> {
    // Synapse only takes ASCII query parameters; anything else could never be a valid localpart.
    if (!/^[\x20-\x7e]*$/.test(localpart)) return { available: false, errcode: 'M_INVALID_USERNAME' };
    try {
      await this.#request('GET', 'is_localpart_available', { query: { localpart } });
      return { available: true };
    } catch (err) {
      if (err instanceof HomeserverError && err.status === 400 && err.errcode && UNAVAILABLE_ERRCODES.has(err.errcode)) {
        return { available: false, errcode: err.errcode };
      }
      throw err;
    }
  }

  async provisionUser(request: ProvisionRequest): Promise<{ created: boolean }> {
    const body: Record<string, unknown> = { localpart: request.localpart };
    if (request.displayName === null) body.unset_displayname = true;
    else if (request.displayName !== undefined) body.set_displayname = request.displayName;
    if (request.avatarUrl === null) body.unset_avatar_url = true;
    else if (request.avatarUrl !== undefined) body.set_avatar_url = request.avatarUrl;
    if (request.emails !== undefined) {
      if (request.emails.length === 0) body.unset_emails = true;
      else body.set_emails = request.emails;
    }
    // Synapse (as of 1.14x) ignores `locked`; MAS sends it anyway, and so do we.
    if (request.locked !== undefined) body.locked = request.locked;
    const { status } = await this.#request('POST', 'provision_user', { body });
    return { created: status === 201 };
  }

  async upsertDevice(localpart: string, deviceId: string, displayName?: string): Promise<{ created: boolean }> {
    const body: Record<string, unknown> = { localpart, device_id: deviceId };
    if (displayName !== undefined) body.display_name = displayName;
    const { status } = await this.#request('POST', 'upsert_device', { body });
    return { created: status === 201 };
  }

  async updateDeviceDisplayName(localpart: string, deviceId: string, displayName: string): Promise<void> {
    await this.#request('POST', 'update_device_display_name', {
      body: { localpart, device_id: deviceId, display_name: displayName },
    });
  }

  async deleteDevice(localpart: string, deviceId: string): Promise<void> {
    await this.#request('POST', 'delete_device', { body: { localpart, device_id: deviceId } });
  }

  async syncDevices(localpart: string, deviceIds: string[]): Promise<void> {
    await this.#request('POST', 'sync_devices', { body: { localpart, devices: [...new Set(deviceIds)] } });
  }

  async deleteUser(localpart: string, erase: boolean): Promise<void> {
    await this.#request('POST', 'delete_user', { body: { localpart, erase } });
  }

  async reactivateUser(localpart: string): Promise<void> {
    await this.#request('POST', 'reactivate_user', { body: { localpart } });
  }

  async setDisplayname(localpart: string, displayname: string): Promise<void> {
    await this.#request('POST', 'set_displayname', { body: { localpart, displayname } });
  }

  async unsetDisplayname(localpart: string): Promise<void> {
    await this.#request('POST', 'unset_displayname', { body: { localpart } });
  }

  async allowCrossSigningReset(localpart: string): Promise<void> {
    await this.#request('POST', 'allow_cross_signing_reset', { body: { localpart } });
  }

  async #request(
    method: 'GET' | 'POST',
    name: string,
    options: { query?: Record<string, string>; body?: unknown },
  ): Promise<{ status: number; body: unknown }> {
    const url = new URL(name, this.#base);
    for (const [key, value] of Object.entries(options.query ?? {})) url.searchParams.set(key, value);
    const headers: Record<string, string> = {
      authorization: `Bearer ${this.#secret}`,
      accept: 'application/json',
    };
    if (options.body !== undefined) headers['content-type'] = 'application/json';

    let response: Response;
    let text: string;
    try {
      response = await fetch(url, {
        method,
        headers,
        ...(options.body === undefined ? {} : { body: JSON.stringify(options.body) }),
        signal: AbortSignal.timeout(this.#timeoutMs),
        redirect: 'error',
      });
      text = await response.text();
    } catch (err) {
      const reason =
        err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError')
          ? `timed out after ${this.#timeoutMs} ms`
          : `failed: ${err instanceof Error ? err.message : String(err)}`;
      throw new HomeserverError(0, undefined, `homeserver ${method} ${name} ${reason}`, { cause: err });
    }

    let body: unknown = undefined;
    if (text.length > 0) {
      try {
        body = JSON.parse(text);
      } catch {
        body = undefined;
      }
    }
    if (!response.ok) {
      const error = body && typeof body === 'object' ? (body as { errcode?: unknown; error?: unknown }) : {};
      const errcode = typeof error.errcode === 'string' ? error.errcode : undefined;
      const detail = typeof error.error === 'string' ? `: ${error.error}` : '';
      throw new HomeserverError(
        response.status,
        errcode,
        `homeserver ${method} ${name} returned ${response.status}${errcode ? ` ${errcode}` : ''}${detail}`,
      );
    }
    return { status: response.status, body };
  }
}
