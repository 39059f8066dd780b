// The shape of a loaded Mauth configuration. Section and key names follow MAS's config.yaml so an
// operator's existing MAS config loads unchanged; the convict schemas in this folder produce it.

export type ResourceName =
  | 'discovery'
  | 'human'
  | 'oauth'
  | 'compat'
  | 'graphql'
  | 'assets'
  | 'adminapi'
  | 'health'
  | 'prometheus'
  | 'connection-info';

/** One of: `port` (with an optional `host`), `address` (`host:port`, `[::]:8080`), `socket`, `fd`. */
export interface ListenerBind {
  host?: string;
  port?: number;
  address?: string;
  /** Path of a UNIX socket, with optional permissions `mode` such as "600". */
  socket?: string;
  mode?: string;
  /** File descriptor passed by the parent process (systemd), offset by 3. */
  fd?: number;
  kind?: 'tcp' | 'unix';
}

/** Exactly one of `certificate`/`certificate_file` and one of `key`/`key_file`; files are not read at load. */
export interface ListenerTls {
  certificate?: string;
  certificate_file?: string;
  key?: string;
  key_file?: string;
  password?: string;
  password_file?: string;
}

export interface Listener {
  name: string;
  resources: { name: ResourceName | string; [key: string]: unknown }[];
  binds: ListenerBind[];
  prefix?: string;
  proxy_protocol?: boolean;
  tls?: ListenerTls;
}

export interface HttpConfig {
  public_base: string;
  issuer: string;
  listeners: Listener[];
  trusted_proxies: string[];
  /** Mauth addition: seconds requests in flight and running jobs get to finish on SIGTERM/SIGINT. */
  shutdown_grace: number;
}

export interface DatabaseConfig {
  uri?: string;
  host?: string;
  port?: number;
  socket?: string;
  username?: string;
  password?: string;
  password_file?: string;
  database?: string;
  ssl_mode?: 'disable' | 'allow' | 'prefer' | 'require' | 'verify-ca' | 'verify-full';
  ssl_ca?: string;
  ssl_ca_file?: string;
  ssl_certificate?: string;
  ssl_certificate_file?: string;
  ssl_key?: string;
  ssl_key_file?: string;
  max_connections: number;
  min_connections: number;
  connect_timeout: number;
  idle_timeout: number;
  max_lifetime: number;
  /** Mauth addition: seconds before PostgreSQL cancels a statement of the server or worker (0: none). */
  statement_timeout: number;
  /** Mauth addition: seconds a statement may wait for a lock (0: none). */
  lock_timeout: number;
  /** Mauth addition: seconds after which an unanswered request gets 503 (0: none). */
  request_deadline: number;
  /** Mauth addition: where the embedded (PGlite) database keeps its files when no server is configured. */
  embedded_path: string;
}

/**
 * After loading, `kid` is always set (derived from the key when the file has none), `key`
 * always holds the unencrypted PKCS#8 PEM, whatever the file gave (key_file, PKCS#1, SEC1, DER,
 * encrypted), and `password` is gone.
 */
export interface SigningKey {
  kid?: string;
  key?: string;
  key_file?: string;
  password?: string;
  password_file?: string;
}

export interface SecretsConfig {
  /** 32 bytes, hex encoded (64 characters). */
  encryption: string;
  encryption_file?: string;
  keys: SigningKey[];
  /** Folder whose files are added to `keys` at load. */
  keys_dir?: string;
}

export interface MatrixConfig {
  kind: 'synapse' | 'synapse_legacy' | 'synapse_modern';
  homeserver: string;
  secret: string;
  secret_file?: string;
  /** Normalised to end with `/`. */
  endpoint: string;
}

export interface PasswordScheme {
  version: number;
  algorithm: 'argon2id' | 'bcrypt' | 'pbkdf2';
  cost?: number;
  /** The pepper; read from `secret_file` byte for byte when given there. */
  secret?: string;
  secret_file?: string;
  unicode_normalization?: boolean;
}

export interface PasswordsConfig {
  enabled: boolean;
  schemes: PasswordScheme[];
  minimum_complexity: number;
}

export interface EmailConfig {
  from: string;
  reply_to: string;
  transport: 'blackhole' | 'smtp' | 'sendmail' | 'aws_ses';
  mode?: 'plain' | 'tls' | 'starttls';
  hostname?: string;
  port?: number;
  username?: string;
  password?: string;
  password_file?: string;
  command?: string;
}

export interface AccountConfig {
  email_change_allowed: boolean;
  displayname_change_allowed: boolean;
  password_registration_enabled: boolean;
  password_registration_email_required: boolean;
  password_change_allowed: boolean;
  password_recovery_enabled: boolean;
  account_deactivation_allowed: boolean;
  login_with_email_allowed: boolean;
  /** True when either this or MAS's newer `password_registration_token_required` is set. */
  registration_token_required: boolean;
  /** Mauth addition: lifetime of mailed codes, seconds. */
  email_code_ttl: number;
  /** Mauth addition: lifetime of recovery links, seconds. */
  recovery_ticket_ttl: number;
  password_registration_token_required?: boolean;
}

export interface RateLimit {
  burst: number;
  per_second: number;
}

export interface RateLimitingConfig {
  account_recovery: { per_ip: RateLimit; per_address: RateLimit };
  login: { per_ip: RateLimit; per_account: RateLimit };
  registration: RateLimit;
  email_authentication: {
    per_ip: RateLimit;
    per_address: RateLimit;
    emails_per_session: RateLimit;
    attempt_per_session: RateLimit;
  };
  username_availability: RateLimit;
  device_code_link?: RateLimit;
}

export interface BrandingConfig {
  service_name?: string;
  policy_uri?: string;
  tos_uri?: string;
  imprint?: string;
  logo_uri?: string;
}

export interface CaptchaConfig {
  service?: 'recaptcha_v2' | 'cloudflare_turnstile' | 'hcaptcha';
  site_key?: string;
  secret_key?: string;
  /** Mauth addition: where to verify responses, when not the service's public endpoint. */
  verify_url?: string;
}

export interface StaticClient {
  client_id: string;
  client_auth_method: 'none' | 'client_secret_basic' | 'client_secret_post' | 'client_secret_jwt' | 'private_key_jwt';
  client_name?: string;
  client_secret?: string;
  client_secret_file?: string;
  jwks?: unknown;
  jwks_uri?: string;
  redirect_uris: string[];
}

export type ImportAction = 'ignore' | 'suggest' | 'force' | 'require';

/** Every template is filled with its default when the file leaves it out (or empty). */
export interface ClaimsImports {
  subject: { template: string };
  skip_confirmation: boolean;
  localpart: { action: ImportAction; template: string; on_conflict: 'fail' | 'add' | 'replace' | 'set' };
  displayname: { action: ImportAction; template: string };
  email: { action: ImportAction; template: string; set_email_verification?: 'always' | 'never' | 'import' };
  account_name: { template?: string };
}

export interface UpstreamProvider {
  /** A ULID, upper-case. */
  id: string;
  issuer?: string;
  enabled?: boolean;
  synapse_idp_id?: string;
  human_name?: string;
  brand_name?: string;
  client_id?: string;
  client_secret?: string;
  client_secret_file?: string;
  token_endpoint_auth_method?: 'none' | 'client_secret_basic' | 'client_secret_post' | 'client_secret_jwt' | 'private_key_jwt' | 'sign_in_with_apple';
  sign_in_with_apple?: { private_key?: string; private_key_file?: string; team_id: string; key_id: string };
  token_endpoint_auth_signing_alg?: string;
  id_token_signed_response_alg?: string;
  scope?: string;
  discovery_mode?: 'oidc' | 'insecure' | 'disabled';
  pkce_method?: 'auto' | 'always' | 'never';
  fetch_userinfo?: boolean;
  userinfo_signed_response_alg?: string;
  authorization_endpoint?: string;
  token_endpoint?: string;
  userinfo_endpoint?: string;
  jwks_uri?: string;
  response_mode?: 'query' | 'form_post';
  claims_imports?: ClaimsImports;
  additional_authorization_parameters?: Record<string, string>;
  forward_login_hint?: boolean;
  on_backchannel_logout?: 'do_nothing' | 'logout_browser_only' | 'logout_all';
  registration_token_required?: boolean;
  [key: string]: unknown;
}

export interface ExperimentalConfig {
  access_token_ttl: number;
  compat_token_ttl: number;
  inactive_session_expiration?: {
    ttl: number;
    expire_compat_sessions: boolean;
    expire_oauth_sessions: boolean;
    expire_user_sessions: boolean;
  };
  plan_management_iframe_uri?: string;
  session_limit?: { soft_limit?: number; hard_limit?: number; max_session_threshold?: number; dangerous_hard_limit_eviction: boolean };
}

export interface TemplatesConfig {
  path?: string;
  assets_manifest?: string;
  translations_path?: string;
}

export interface PolicyConfig {
  data: Record<string, unknown>;
}

export interface TelemetryConfig {
  [key: string]: unknown;
}

export interface UsernameRewriteRule {
  regex: string;
  medium: string;
}

export interface Config {
  http: HttpConfig;
  database: DatabaseConfig;
  secrets: SecretsConfig;
  matrix: MatrixConfig;
  passwords: PasswordsConfig;
  email: EmailConfig;
  account: AccountConfig;
  rate_limiting: RateLimitingConfig;
  branding: BrandingConfig;
  captcha: CaptchaConfig;
  clients: StaticClient[];
  upstream_oauth2: { providers: UpstreamProvider[] };
  experimental: ExperimentalConfig;
  /** Mauth addition: log in by other identifiers. */
  username_rewrite: { rules: UsernameRewriteRule[] };
  templates: TemplatesConfig;
  policy: PolicyConfig;
  telemetry: TelemetryConfig;
}
