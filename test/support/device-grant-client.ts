// A Matrix client's side of the device authorization grant (RFC 8628), as matrix-js-sdk does it.
//
// The installed matrix-js-sdk (37.5; later versions need Node 22) validates the discovery
// document (`discoverAndValidateOIDCIssuerWellKnown`, which also reads
// `device_authorization_endpoint`) and token responses (`validateBearerTokenResponse`), and
// names the grant (`DEVICE_CODE_SCOPE`), but it has neither `OAuth2.registerClient` with the
// device grant (its `registerOidcClient` always asks for authorization_code + refresh_token
// only) nor `startDeviceAuthorizationGrant` / `waitForDeviceAuthorizationGrant`, which arrived
// with its `src/oauth/` module. This file is those three, request for request as in
// matrix-js-sdk's `src/oauth/index.ts` and `authorize.ts` (registration defaults, form fields,
// the polling loop and its reactions to each error), with one change: the wait between polls
// is a function the test gives, so a test moves the server's clock instead of sleeping.
import { DEVICE_CODE_SCOPE, discoverAndValidateOIDCIssuerWellKnown, type OidcClientConfig } from 'matrix-js-sdk';

export { validateBearerTokenResponse } from 'matrix-js-sdk';

export const DEVICE_GRANT = DEVICE_CODE_SCOPE;

/** Discovery as the SDK validated it; v37.5's type predates the device endpoint it checks. */
export type AuthMetadata = OidcClientConfig & { device_authorization_endpoint?: string };

export interface DeviceAuthorizationResponse {
  device_code: string;
  user_code: string;
  verification_uri: string;
  verification_uri_complete?: string;
  expires_in: number;
  interval?: number;
}

export interface DeviceAccessTokenResponse {
  access_token: string;
  token_type: string;
  refresh_token?: string;
  scope?: string;
  expires_in?: number;
  id_token?: string;
}

export interface DeviceAccessTokenError {
  error: string;
  error_description?: string;
}

/** matrix-js-sdk's `generateScope`: the stable API scope and one device. */
export const generateScope = (deviceId: string) => `urn:matrix:client:api:* urn:matrix:client:device:${deviceId}`;

export async function discover(issuer: string): Promise<AuthMetadata> {
  return discoverAndValidateOIDCIssuerWellKnown(issuer);
}

export interface OAuth2Options {
  /** Waits between polls; the SDK sleeps, a test moves the server's clock. */
  wait: (ms: number) => Promise<void>;
  /** The client's idea of now, for giving up when the code has expired. */
  now?: () => number;
}

export class OAuth2 {
  /** As the SDK: asks for the device grant whenever discovery lists it. */
  static async registerClient(metadata: AuthMetadata, client: Record<string, unknown>): Promise<string> {
    const grantTypes = ['authorization_code', 'refresh_token'];
    if (metadata.grant_types_supported.includes(DEVICE_GRANT)) grantTypes.push(DEVICE_GRANT);
    if (grantTypes.some((g) => !metadata.grant_types_supported.includes(g))) throw new Error('DynamicRegistrationNotSupported');
    const res = await fetch(metadata.registration_endpoint!, {
      method: 'POST',
      headers: { Accept: 'application/json', 'Content-Type': 'application/json' },
      body: JSON.stringify({ response_types: ['code'], token_endpoint_auth_method: 'none', ...client, grant_types: grantTypes }),
    });
    if (res.status >= 400) throw new Error(`DynamicRegistrationFailed: ${res.status} ${await res.text()}`);
    const body = (await res.json()) as { client_id?: unknown };
    if (typeof body.client_id !== 'string') throw new Error('DynamicRegistrationInvalid');
    return body.client_id;
  }

  constructor(
    readonly metadata: AuthMetadata,
    readonly clientId: string,
    readonly deviceId: string,
    private readonly options: OAuth2Options,
  ) {}

  async startDeviceAuthorizationGrant(scope = generateScope(this.deviceId)): Promise<DeviceAuthorizationResponse> {
    const url = this.metadata.device_authorization_endpoint;
    if (!url) throw new Error('No device_authorization_endpoint given');
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ client_id: this.clientId, scope }).toString(),
    });
    const data = (await res.json()) as Record<string, unknown>;
    const ok =
      typeof data.device_code === 'string' &&
      typeof data.user_code === 'string' &&
      typeof data.verification_uri === 'string' &&
      typeof data.expires_in === 'number' &&
      (data.verification_uri_complete === undefined || typeof data.verification_uri_complete === 'string') &&
      (data.interval === undefined || typeof data.interval === 'number');
    if (!ok) throw new Error(`InvalidDeviceAuthorizationResponse: ${JSON.stringify(data)}`);
    return data as unknown as DeviceAuthorizationResponse;
  }

  async waitForDeviceAuthorizationGrant(session: DeviceAuthorizationResponse): Promise<DeviceAccessTokenResponse | DeviceAccessTokenError> {
    const now = this.options.now ?? Date.now;
    let interval = (session.interval ?? 5) * 1000;
    const expiration = now() + session.expires_in * 1000;
    do {
      const res = await fetch(this.metadata.token_endpoint, {
        method: 'POST',
        headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ device_code: session.device_code, grant_type: DEVICE_GRANT, client_id: this.clientId }).toString(),
      });
      const data = (await res.json()) as Record<string, unknown>;
      if (res.ok && typeof data.access_token === 'string' && typeof data.token_type === 'string') {
        return data as unknown as DeviceAccessTokenResponse;
      }
      const error = data as unknown as DeviceAccessTokenError;
      switch (error.error) {
        case 'authorization_pending':
          break;
        case 'slow_down':
          interval += 5000;
          break;
        case 'access_denied':
        case 'expired_token':
          return error;
      }
      await this.options.wait(interval);
    } while (now() < expiration);
    return { error: 'expired' };
  }
}
