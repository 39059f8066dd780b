// Every section in the order `config generate` writes them, and the root schema they form.
import { account } from './account.js';
import { branding } from './branding.js';
import { captcha } from './captcha.js';
import { clients } from './clients.js';
import { database } from './database.js';
import { email } from './email.js';
import { experimental } from './experimental.js';
import type { SchemaDef } from './formats.js';
import { http } from './http.js';
import { matrix } from './matrix.js';
import { passwords } from './passwords.js';
import { policy } from './policy.js';
import { rateLimiting } from './rate-limiting.js';
import { secrets } from './secrets.js';
import type { Section } from './section.js';
import { telemetry } from './telemetry.js';
import { templates } from './templates.js';
import { upstreamOauth2 } from './upstream-oauth2.js';
import { usernameRewrite } from './username-rewrite.js';

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
  experimental,
  usernameRewrite,
  templates,
  policy,
  telemetry,
] as Section[];

export const ROOT_SCHEMA: SchemaDef = Object.fromEntries(SECTIONS.map((section) => [section.key, section.schema]));
