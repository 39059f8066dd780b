// The admin API's routes as MAS names them, and a check of an answer against the schema the
// route declares (the one /api/spec.json publishes).
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { ADMIN_ROUTES } from '../../src/admin/routes.js';

/** Every operation of MAS's admin API (docs/api/spec.json of matrix-authentication-service). */
export const MAS_ROUTES = [
  'GET /api/admin/v1/site-config',
  'GET /api/admin/v1/version',
  'GET /api/admin/v1/compat-sessions',
  'GET /api/admin/v1/compat-sessions/{id}',
  'POST /api/admin/v1/compat-sessions/{id}/finish',
  'GET /api/admin/v1/oauth2-clients',
  'GET /api/admin/v1/oauth2-clients/{id}',
  'GET /api/admin/v1/oauth2-sessions',
  'GET /api/admin/v1/oauth2-sessions/{id}',
  'POST /api/admin/v1/oauth2-sessions/{id}/finish',
  'GET /api/admin/v1/personal-sessions',
  'POST /api/admin/v1/personal-sessions',
  'GET /api/admin/v1/personal-sessions/{id}',
  'POST /api/admin/v1/personal-sessions/{id}/revoke',
  'POST /api/admin/v1/personal-sessions/{id}/regenerate',
  'POST /api/admin/v1/policy-data',
  'GET /api/admin/v1/policy-data/latest',
  'GET /api/admin/v1/policy-data/{id}',
  'GET /api/admin/v1/users',
  'POST /api/admin/v1/users',
  'GET /api/admin/v1/users/{id}',
  'POST /api/admin/v1/users/{id}/set-password',
  'GET /api/admin/v1/users/by-username/{username}',
  'POST /api/admin/v1/users/{id}/set-admin',
  'POST /api/admin/v1/users/{id}/deactivate',
  'POST /api/admin/v1/users/{id}/reactivate',
  'POST /api/admin/v1/users/{id}/lock',
  'POST /api/admin/v1/users/{id}/unlock',
  'GET /api/admin/v1/user-emails',
  'POST /api/admin/v1/user-emails',
  'GET /api/admin/v1/user-emails/{id}',
  'DELETE /api/admin/v1/user-emails/{id}',
  'GET /api/admin/v1/user-sessions',
  'GET /api/admin/v1/user-sessions/{id}',
  'POST /api/admin/v1/user-sessions/{id}/finish',
  'GET /api/admin/v1/user-registration-tokens',
  'POST /api/admin/v1/user-registration-tokens',
  'GET /api/admin/v1/user-registration-tokens/{id}',
  'PUT /api/admin/v1/user-registration-tokens/{id}',
  'POST /api/admin/v1/user-registration-tokens/{id}/revoke',
  'POST /api/admin/v1/user-registration-tokens/{id}/unrevoke',
  'GET /api/admin/v1/upstream-oauth-links',
  'POST /api/admin/v1/upstream-oauth-links',
  'GET /api/admin/v1/upstream-oauth-links/{id}',
  'DELETE /api/admin/v1/upstream-oauth-links/{id}',
  'GET /api/admin/v1/upstream-oauth-providers',
  'GET /api/admin/v1/upstream-oauth-providers/{id}',
];

/** Whether `body` matches the declared response of the route at `path` (below /api/admin/v1, ids filled in). */
export function matchesRouteSchema(method: string, path: string, status: number, body: unknown): boolean {
  const route = ADMIN_ROUTES.find(
    (r) => r.method === method.toLowerCase() && new RegExp(`^${r.path.replace(/\{\w+\}/g, '[^/]+')}$`).test(path),
  );
  const schema = route?.responses[status]?.schema;
  if (!schema) throw new Error(`no schema for ${method} ${path} ${status}`);
  return TypeCompiler.Compile(schema).Check(body);
}
