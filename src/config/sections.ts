// Every section in the order `config generate` writes them, the root schema they form, and the
// type of a loaded configuration, inferred from that schema.
import { account, accountSchema } from './account.js';
import { branding, brandingSchema } from './branding.js';
import { captcha, captchaSchema } from './captcha.js';
import { clients, clientsSchema } from './clients.js';
import { database, databaseSchema } from './database.js';
import { email, emailSchema } from './email.js';
import { experimental, experimentalSchema } from './experimental.js';
import { http, httpSchema } from './http.js';
import { introspection, introspectionSchema } from './introspection.js';
import { ldap, ldapSchema } from './ldap.js';
import { matrix, matrixSchema } from './matrix.js';
import { oauth, oauthSchema } from './oauth.js';
import { passwords, passwordsSchema } from './passwords.js';
import { policy, policySchema } from './policy.js';
import { rateLimiting, rateLimitingSchema } from './rate-limiting.js';
import { rendezvous, rendezvousSchema } from './rendezvous.js';
import type { Infer } from './schema.js';
import { secrets, secretsSchema } from './secrets.js';
import type { Section } from './section.js';
import { telemetry, telemetrySchema } from './telemetry.js';
import { templates, templatesSchema } from './templates.js';
import { upstreamOauth2, upstreamOauth2Schema } from './upstream-oauth2.js';
import { usernameRewrite, usernameRewriteSchema } from './username-rewrite.js';

// Built from the schemas themselves rather than from SECTIONS: each section's type names its
// schema through this object, so deriving it from the sections would be circular.
export const ROOT_SCHEMA = {
  http: httpSchema,
  database: databaseSchema,
  secrets: secretsSchema,
  matrix: matrixSchema,
  passwords: passwordsSchema,
  email: emailSchema,
  account: accountSchema,
  rate_limiting: rateLimitingSchema,
  branding: brandingSchema,
  captcha: captchaSchema,
  clients: clientsSchema,
  upstream_oauth2: upstreamOauth2Schema,
  oauth: oauthSchema,
  experimental: experimentalSchema,
  username_rewrite: usernameRewriteSchema,
  ldap: ldapSchema,
  templates: templatesSchema,
  policy: policySchema,
  telemetry: telemetrySchema,
  rendezvous: rendezvousSchema,
  introspection: introspectionSchema,
};

export type RootSchema = typeof ROOT_SCHEMA;

/** A loaded configuration: what `loadConfig` returns once every section's check has run. */
export type Config = Infer<RootSchema>;

export const SECTIONS: readonly Section[] = [
  http,
  database,
  secrets,
  matrix,
  passwords,
  email,
  account,
  rateLimiting,
  branding,
  captcha,
  clients,
  upstreamOauth2,
  oauth,
  experimental,
  usernameRewrite,
  ldap,
  templates,
  policy,
  telemetry,
  rendezvous,
  introspection,
];
