// Every route of the admin API, in the order they are matched (fixed paths before `{id}`).
import type { AdminRoute } from './route.js';
import { compatSessionRoutes } from './v1/compat-sessions.js';
import { oauth2ClientRoutes } from './v1/oauth2-clients.js';
import { oauth2SessionRoutes } from './v1/oauth2-sessions.js';
import { personalSessionRoutes } from './v1/personal-sessions.js';
import { policyDataRoutes } from './v1/policy-data.js';
import { registrationTokenRoutes } from './v1/registration-tokens.js';
import { serverRoutes } from './v1/server.js';
import { upstreamRoutes } from './v1/upstream.js';
import { userActionRoutes } from './v1/user-actions.js';
import { userEmailRoutes } from './v1/user-emails.js';
import { userSessionRoutes } from './v1/user-sessions.js';
import { userRoutes } from './v1/users.js';

export { API_PREFIX } from './paths.js';

export const ADMIN_ROUTES: AdminRoute[] = [
  ...serverRoutes,
  ...compatSessionRoutes,
  ...oauth2ClientRoutes,
  ...oauth2SessionRoutes,
  ...personalSessionRoutes,
  ...policyDataRoutes,
  ...userRoutes,
  ...userActionRoutes,
  ...userEmailRoutes,
  ...userSessionRoutes,
  ...registrationTokenRoutes,
  ...upstreamRoutes,
];

export const TAGS = [
  { name: 'server', description: 'Information about the server' },
  { name: 'compat-session', description: 'Manage compatibility sessions from legacy clients' },
  { name: 'policy-data', description: 'Manage the dynamic policy data' },
  { name: 'oauth2-client', description: 'Manage OAuth 2.0 clients' },
  { name: 'oauth2-session', description: 'Manage OAuth 2.0 sessions' },
  { name: 'personal-session', description: 'Manage personal sessions and their personal access tokens' },
  { name: 'user', description: 'Manage users' },
  { name: 'user-email', description: 'Manage emails associated with users' },
  { name: 'user-session', description: 'Manage browser sessions of users' },
  { name: 'user-registration-token', description: 'Manage user registration tokens' },
  { name: 'upstream-oauth-link', description: 'Manage links between local users and identities from upstream OAuth 2.0 providers' },
  { name: 'upstream-oauth-provider', description: 'Manage upstream OAuth 2.0 providers' },
];
