// `upstream_oauth2`: identity providers users can log in with (Keycloak, Authentik, Google, ...),
// with MAS's keys. `claims_imports` sub-keys left empty (YAML null, as in configs whose examples
// are all commented out) take their defaults.
import { boolean, isUlid, listOf, mapping, oneOf, optionalMapping, optionalString, secret, string, ulid, url } from './formats.js';
import { required, shape } from './schema.js';
import type { Section } from './section.js';
import { templateSyntaxError } from '../domain/claims-template/index.js';

const SECRET_METHODS = ['client_secret_basic', 'client_secret_post', 'client_secret_jwt'];
const JWT_METHODS = ['client_secret_jwt', 'private_key_jwt'];
const IMPORT_ACTIONS = ['ignore', 'suggest', 'force', 'require'] as const;

function endpoint(doc: string) {
  return url(`${doc}; overrides discovery`, undefined, ['http', 'https']);
}

const signInWithApple = shape({
  schema: {
    private_key: optionalString('PEM key from the Apple Developer Portal', { sensitive: true }),
    private_key_file: optionalString('File holding the key'),
    team_id: required(optionalString('Team ID')),
    key_id: required(optionalString('Key ID')),
  },
  check(value, report) {
    if ((value.private_key === undefined) === (value.private_key_file === undefined)) report.error('needs exactly one of `private_key` and `private_key_file`');
    if (value.team_id === undefined) report.error('is required', 'team_id');
    if (value.key_id === undefined) report.error('is required', 'key_id');
  },
});

const provider = shape({
  schema: {
    enabled: boolean('Whether users can log in with this provider', true),
    id: required(ulid('Unique ID, a ULID')),
    synapse_idp_id: optionalString("The provider's ID in Synapse (oidc-<idp_id>), for syn2mas"),
    issuer: url('Issuer, used for discovery', undefined, ['http', 'https']),
    human_name: optionalString('Name shown on the login page'),
    brand_name: optionalString('Brand for the login button: apple, google, facebook, github, gitlab, twitter, discord'),
    client_id: required(optionalString('Client ID at the provider', { nonEmpty: true })),
    client_secret: secret('Client secret at the provider'),
    client_secret_file: optionalString('File holding the client secret'),
    token_endpoint_auth_method: required(
      oneOf(
        'How Mauth authenticates to the token endpoint',
        ['none', 'client_secret_basic', 'client_secret_post', 'client_secret_jwt', 'private_key_jwt', 'sign_in_with_apple'],
        undefined,
      ),
    ),
    sign_in_with_apple: optionalMapping('Parameters of the sign_in_with_apple method', signInWithApple),
    token_endpoint_auth_signing_alg: optionalString('JWS algorithm of the client assertion (client_secret_jwt, private_key_jwt)'),
    id_token_signed_response_alg: string('Expected JWS algorithm of ID tokens', 'RS256'),
    scope: required(optionalString('Scopes to request, e.g. "openid email profile"')),
    discovery_mode: oneOf('oidc (strict), insecure (lenient) or disabled (use the endpoints below)', ['oidc', 'insecure', 'disabled'], 'oidc'),
    pkce_method: oneOf('auto (when advertised), always or never', ['auto', 'always', 'never'], 'auto'),
    fetch_userinfo: boolean('Read claims from the userinfo endpoint too', false),
    userinfo_signed_response_alg: optionalString('Expected JWS algorithm of signed userinfo responses'),
    authorization_endpoint: endpoint('Authorization endpoint'),
    token_endpoint: endpoint('Token endpoint'),
    userinfo_endpoint: endpoint('Userinfo endpoint'),
    jwks_uri: endpoint('JWKS URI'),
    response_mode: oneOf('How the provider returns to Mauth', ['query', 'form_post'], undefined),
    claims_imports: {
      subject: {
        template: string('Template of the subject that links the upstream account', '{{ user.sub }}'),
      },
      skip_confirmation: boolean('Skip the confirmation screen (localpart must be `require`d, nothing `suggest`ed)', false),
      localpart: {
        action: oneOf('What to do with the localpart', IMPORT_ACTIONS, 'ignore'),
        template: string('Template of the localpart', '{{ user.preferred_username }}'),
        on_conflict: oneOf('When the localpart exists: fail, add, replace or set', ['fail', 'add', 'replace', 'set'], 'fail'),
      },
      displayname: {
        action: oneOf('What to do with the display name', IMPORT_ACTIONS, 'ignore'),
        template: string('Template of the display name', '{{ user.name }}'),
      },
      email: {
        action: oneOf('What to do with the e-mail address', IMPORT_ACTIONS, 'ignore'),
        template: string('Template of the e-mail address', '{{ user.email }}'),
        set_email_verification: oneOf('Older MAS key: always, never or import', ['always', 'never', 'import'], undefined),
      },
      account_name: {
        template: optionalString('Template of the account name shown to the user'),
      },
    },
    // Strings: the check below refuses any other value.
    additional_authorization_parameters: mapping<string>('Extra parameters added to the authorization request', {}),
    forward_login_hint: boolean('Forward login_hint to the provider', false),
    on_backchannel_logout: oneOf('do_nothing, logout_browser_only or logout_all', ['do_nothing', 'logout_browser_only', 'logout_all'], 'do_nothing'),
    registration_token_required: boolean('Registering through this provider requires a registration token', false),
  },
  check(value, report) {
    if (value.id === undefined) report.error('is required (a ULID, e.g. 01HFVBY12TMNTYTBV8W921M5FA)', 'id');
    else value.id = value.id.toUpperCase();
    if (value.client_id === undefined) report.error('is required', 'client_id');
    if (value.scope === undefined) report.error('is required, e.g. "openid email profile"', 'scope');
    if (value.discovery_mode !== 'disabled' && value.issuer === undefined) report.error('is required unless discovery_mode is disabled', 'issuer');
    if (value.discovery_mode === 'disabled') {
      for (const key of ['authorization_endpoint', 'token_endpoint'] as const) {
        if (value[key] === undefined) report.error('is required when discovery_mode is disabled', key);
      }
    }

    const method = value.token_endpoint_auth_method as string | undefined;
    if (method === undefined) {
      report.error('is required (none, client_secret_basic, client_secret_post, client_secret_jwt, private_key_jwt or sign_in_with_apple)', 'token_endpoint_auth_method');
    } else {
      if (SECRET_METHODS.includes(method) && value.client_secret === undefined) {
        // MAS refuses this; Mauth loads it (operators paste examples with the secret commented
        // out) and warns, since the provider will reject Mauth until a secret is set.
        report.warn(`is not set: ${method} needs a client secret, so logins through this provider will fail`, 'client_secret');
      }
      if (!SECRET_METHODS.includes(method) && value.client_secret !== undefined) report.error(`is not allowed with ${method}`, 'client_secret');
      if (JWT_METHODS.includes(method) && value.token_endpoint_auth_signing_alg === undefined) report.error(`is required with ${method}`, 'token_endpoint_auth_signing_alg');
      if (!JWT_METHODS.includes(method) && value.token_endpoint_auth_signing_alg !== undefined) report.warn(`is ignored with ${method}`, 'token_endpoint_auth_signing_alg');
      if ((method === 'sign_in_with_apple') !== (value.sign_in_with_apple !== undefined)) {
        report.error(method === 'sign_in_with_apple' ? 'is required with sign_in_with_apple' : `is not allowed with ${method}`, 'sign_in_with_apple');
      }
    }

    const imports = value.claims_imports;
    if (imports.skip_confirmation) {
      if (imports.localpart.action !== 'require') report.error('must be `require` when skip_confirmation is set', 'claims_imports.localpart.action');
      for (const key of ['displayname', 'email'] as const) {
        if (imports[key].action === 'suggest') report.error('must not be `suggest` when skip_confirmation is set', `claims_imports.${key}.action`);
      }
    }
    for (const key of ['subject', 'localpart', 'displayname', 'email', 'account_name'] as const) {
      const template = imports[key].template as string | undefined;
      const problem = template === undefined ? undefined : templateSyntaxError(template);
      if (problem) report.error(`is not a valid template: ${problem}`, `claims_imports.${key}.template`);
    }
    for (const [key, parameter] of Object.entries<unknown>(value.additional_authorization_parameters)) {
      if (typeof parameter !== 'string') report.error('must be a string', `additional_authorization_parameters.${key}`);
    }
  },
});

export const upstreamOauth2Schema = {
  providers: listOf('Upstream OAuth 2.0 / OpenID Connect providers', provider),
};

export const upstreamOauth2: Section<'upstream_oauth2'> = {
  key: 'upstream_oauth2',
  description: [
    'Upstream identity providers: `id` (a ULID), `issuer`, `client_id`, `client_secret`,',
    '`token_endpoint_auth_method`, `scope`, `claims_imports` (subject, localpart, displayname,',
    'email: `action` ignore/suggest/force/require and a `template` such as "{{ user.preferred_username }}").',
  ],
  schema: upstreamOauth2Schema,
  check(config, report) {
    const seen = new Map<string, number>();
    config.upstream_oauth2.providers.forEach((entry, index) => {
      if (!isUlid(entry.id ?? '')) return;
      const first = seen.get(entry.id);
      if (first !== undefined) report.at('providers').at(index).error(`duplicates the id of providers[${first}]`, 'id');
      else seen.set(entry.id, index);
    });
  },
};
