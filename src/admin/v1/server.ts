// `site-config` and `version`: what this instance is configured to allow, and which Mauth it is.
import { Type } from '@sinclair/typebox';
import { defineRoute } from '../route.js';
import { VERSION } from '../version.js';

const SiteConfig = Type.Object(
  {
    server_name: Type.String({ description: 'The Matrix server name for which this instance is configured' }),
    password_login_enabled: Type.Boolean({ description: 'Whether password login is enabled' }),
    password_registration_enabled: Type.Boolean({ description: 'Whether password registration is enabled' }),
    password_registration_email_required: Type.Boolean({ description: 'Whether a valid email address is required for password registrations' }),
    password_registration_token_required: Type.Boolean({ description: 'Whether registration tokens are required for password registrations' }),
    registration_token_required: Type.Boolean({ description: 'Deprecated name of password_registration_token_required', deprecated: true }),
    email_change_allowed: Type.Boolean({ description: 'Whether users can change their email' }),
    displayname_change_allowed: Type.Boolean({ description: 'Whether users can change their display name' }),
    password_change_allowed: Type.Boolean({ description: 'Whether users can change their password' }),
    account_recovery_allowed: Type.Boolean({ description: 'Whether users can recover their account via email' }),
    account_deactivation_allowed: Type.Boolean({ description: 'Whether users can delete their own account' }),
    captcha_enabled: Type.Boolean({ description: 'Whether CAPTCHA during registration is enabled' }),
    minimum_password_complexity: Type.Integer({ minimum: 0, maximum: 4, description: 'Minimum password complexity, a zxcvbn score between 0 and 4' }),
  },
  { title: 'SiteConfig' },
);

export const serverRoutes = [
  defineRoute({
    method: 'get',
    path: '/site-config',
    operationId: 'siteConfig',
    summary: 'Get informations about the configuration of this instance',
    tag: 'server',
    responses: { 200: { description: 'The site configuration', schema: SiteConfig } },
    async handler({ app: { config } }) {
      const tokenRequired = config.account.password_registration_token_required || config.account.registration_token_required;
      return {
        status: 200,
        body: {
          server_name: config.matrix.homeserver,
          password_login_enabled: config.passwords.enabled,
          password_registration_enabled: config.account.password_registration_enabled,
          password_registration_email_required: config.account.password_registration_email_required,
          password_registration_token_required: tokenRequired,
          registration_token_required: tokenRequired,
          email_change_allowed: config.account.email_change_allowed,
          displayname_change_allowed: config.account.displayname_change_allowed,
          password_change_allowed: config.account.password_change_allowed,
          account_recovery_allowed: config.account.password_recovery_enabled,
          account_deactivation_allowed: config.account.account_deactivation_allowed,
          captcha_enabled: config.captcha.service !== undefined,
          minimum_password_complexity: config.passwords.minimum_complexity,
        },
      };
    },
  }),
  defineRoute({
    method: 'get',
    path: '/version',
    operationId: 'version',
    summary: 'Get the version currently running',
    tag: 'server',
    responses: { 200: { description: 'The version', schema: Type.Object({ version: Type.String({ description: 'The semver version of the app' }) }, { title: 'Version' }) } },
    async handler() {
      return { status: 200, body: { version: VERSION } };
    },
  }),
];
