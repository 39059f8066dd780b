// Names for parts of a loaded configuration. The types themselves are inferred from the section
// schemas (sections.ts), so they follow every change to a schema; these aliases only name them.
import type { Config } from './sections.js';

export type { Config } from './sections.js';

export type HttpConfig = Config['http'];
export type Listener = HttpConfig['listeners'][number];
export type ResourceName = Listener['resources'][number]['name'];
/** One of: `port` (with an optional `host`), `address` (`host:port`, `[::]:8080`), `socket`, `fd`. */
export type ListenerBind = Listener['binds'][number];
export type ListenerTls = NonNullable<Listener['tls']>;

export type DatabaseConfig = Config['database'];

export type SecretsConfig = Config['secrets'];
/** A loaded signing key: `key` holds the unencrypted PKCS#8 PEM, `kid` is set, `password` is gone. */
export type SigningKey = SecretsConfig['keys'][number];

export type MatrixConfig = Config['matrix'];

export type PasswordsConfig = Config['passwords'];
export type PasswordScheme = PasswordsConfig['schemes'][number];

export type EmailConfig = Config['email'];
export type AccountConfig = Config['account'];

export type RateLimitingConfig = Config['rate_limiting'];
export type RateLimit = RateLimitingConfig['registration'];

export type BrandingConfig = Config['branding'];
export type CaptchaConfig = Config['captcha'];

export type StaticClient = Config['clients'][number];

export type UpstreamProvider = Config['upstream_oauth2']['providers'][number];
/** Every template is filled with its default when the file leaves it out (or empty). */
export type ClaimsImports = UpstreamProvider['claims_imports'];
export type ImportAction = ClaimsImports['localpart']['action'];

export type OAuthConfig = Config['oauth'];
export type ExperimentalConfig = Config['experimental'];
export type TemplatesConfig = Config['templates'];
export type PolicyConfig = Config['policy'];
export type TelemetryConfig = Config['telemetry'];
export type UsernameRewriteRule = Config['username_rewrite']['rules'][number];
