// `experimental`: settings that have no stable home yet, as in MAS.
import { boolean, integer, optionalMapping, url } from './formats.js';
import { required } from './schema.js';
import type { Section } from './section.js';

export const experimentalSchema = {
  access_token_ttl: integer('Lifetime of OAuth 2.0 access tokens, in seconds', 300, { min: 1 }),
  compat_token_ttl: integer('Lifetime of compatibility access tokens that can be refreshed, in seconds', 300, { min: 1 }),
  inactive_session_expiration: optionalMapping('End sessions unused for `ttl` seconds (within 30 s of crossing it)', {
    schema: {
      // MAS's range: Synapse caches each introspection for 2 minutes, so uses are only seen
      // that often, and a shorter ttl would end sessions that are in use.
      ttl: required(integer('Seconds of inactivity after which a session ends', undefined, { min: 600, max: 7_776_000 })),
      expire_compat_sessions: boolean('Apply to compatibility sessions', true),
      expire_oauth_sessions: boolean('Apply to OAuth 2.0 sessions', true),
      expire_user_sessions: boolean('Apply to browser sessions', true),
    },
    check(value, report) {
      if (value.ttl === undefined) report.error('is required', 'ttl');
    },
  }),
  plan_management_iframe_uri: url('Page shown in a plan management tab', undefined),
  // Handed to the policies as `session_limit` (policies/authorization_grant, policies/compat_login).
  session_limit: optionalMapping('Limit the number of sessions (OAuth 2.0, compatibility, personal) per user', {
    schema: {
      soft_limit: required(integer('Sessions at which interactive logins ask the user to end some first', undefined, { min: 1 })),
      hard_limit: required(integer('Sessions at which non-interactive (m.login.password, m.login.token) logins are refused', undefined, { min: 1 })),
      max_session_threshold: integer('Only apply the limits to users with at most this many sessions', undefined, { min: 1 }),
      dangerous_hard_limit_eviction: boolean('At the hard limit, end the least recently used compatibility sessions instead of refusing', false),
    },
    check(value, report) {
      if (value.soft_limit === undefined) report.error('is required', 'soft_limit');
      if (value.hard_limit === undefined) report.error('is required', 'hard_limit');
      if (value.soft_limit !== undefined && value.hard_limit !== undefined && value.soft_limit > value.hard_limit) {
        report.error('must not exceed hard_limit', 'soft_limit');
      }
      if (value.dangerous_hard_limit_eviction && (value.hard_limit === undefined || value.hard_limit < 2)) {
        report.error('needs a hard_limit of at least 2', 'dangerous_hard_limit_eviction');
      }
    },
  }),
};

export const experimental: Section<'experimental'> = {
  key: 'experimental',
  description: [
    'Settings that may move: token lifetimes in seconds, `inactive_session_expiration` (`ttl`, and',
    '`expire_oauth_sessions`/`expire_compat_sessions`/`expire_user_sessions`), `session_limit` (`soft_limit`,',
    '`hard_limit`, `max_session_threshold`, `dangerous_hard_limit_eviction`).',
  ],
  schema: experimentalSchema,
};
