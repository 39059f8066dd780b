// MAS's registered clients as oidc-provider client metadata, the way Mauth stores a client that
// registered with it: same client_id (MAS's ULID), redirect URIs and authentication method, and
// the defaults oidc-provider fills in at registration. Grant types Mauth does not offer are left
// out, as its registration leaves them out: the device code grant unless it is enabled.
import type { MasClient } from '../storage/mas-source.js';
import { fromUuid } from './ids.js';

const epoch = (date: Date) => Math.floor(date.getTime() / 1000);

const DEVICE_CODE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';

export function clientPayload(client: MasClient, now: Date, options: { deviceCodeGrant: boolean }): Record<string, unknown> {
  const grantTypes = [
    ...(client.grant_type_authorization_code ? ['authorization_code'] : []),
    ...(client.grant_type_refresh_token ? ['refresh_token'] : []),
    ...(client.grant_type_client_credentials ? ['client_credentials'] : []),
    ...(client.grant_type_device_code && options.deviceCodeGrant ? [DEVICE_CODE_GRANT] : []),
  ];
  const optional = {
    client_name: client.client_name,
    logo_uri: client.logo_uri,
    client_uri: client.client_uri,
    policy_uri: client.policy_uri,
    tos_uri: client.tos_uri,
    jwks_uri: client.jwks_uri,
    jwks: client.jwks,
    userinfo_signed_response_alg: client.userinfo_signed_response_alg,
    token_endpoint_auth_signing_alg: client.token_endpoint_auth_signing_alg,
    initiate_login_uri: client.initiate_login_uri,
    contacts: client.contacts.length > 0 ? client.contacts : null,
  };
  return {
    client_id: fromUuid(client.oauth2_client_id),
    client_id_issued_at: epoch(client.created_at ?? now),
    redirect_uris: client.redirect_uris,
    grant_types: grantTypes,
    response_types: client.grant_type_authorization_code ? ['code'] : [],
    token_endpoint_auth_method: client.token_endpoint_auth_method ?? 'none',
    application_type: client.application_type === 'native' ? 'native' : 'web',
    subject_type: 'public',
    require_auth_time: false,
    dpop_bound_access_tokens: false,
    id_token_signed_response_alg: client.id_token_signed_response_alg ?? 'RS256',
    ...Object.fromEntries(Object.entries(optional).filter(([, value]) => value !== null && value !== undefined)),
  };
}
