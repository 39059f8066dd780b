// The OpenAPI 3.1 document of the admin API, made from the route declarations: the schemas that
// validate each input are the ones it publishes. Served at /api/spec.json.
import type { TSchema } from '@sinclair/typebox';
import { MAS_ADMIN_SCOPE } from '../domain/scopes.js';
import type { AdminRoute } from './route.js';
import { API_PREFIX, TAGS } from './routes.js';
import { ErrorResponse } from './schemas.js';
import { VERSION } from './version.js';

/** Plain JSON Schema: TypeBox's bookkeeping (symbol keys) does not survive serialisation. */
function plain(schema: TSchema): Record<string, unknown> {
  return JSON.parse(JSON.stringify(schema)) as Record<string, unknown>;
}

function errorResponse(description: string) {
  return { description, content: { 'application/json': { schema: plain(ErrorResponse) } } };
}

function parameters(route: AdminRoute) {
  const out: Record<string, unknown>[] = [];
  for (const [location, schema] of [['path', route.params], ['query', route.query]] as const) {
    const properties = (schema?.properties ?? {}) as Record<string, TSchema>;
    const required = new Set((schema?.required as string[] | undefined) ?? []);
    for (const [name, property] of Object.entries(properties)) {
      const { description, ...rest } = plain(property);
      out.push({
        in: location,
        name,
        required: location === 'path' || required.has(name),
        ...(description ? { description } : {}),
        schema: rest,
        ...(rest.type === 'array' ? { style: 'form', explode: true } : {}),
      });
    }
  }
  return out;
}

function operation(route: AdminRoute) {
  const responses: Record<string, unknown> = {};
  for (const [status, doc] of Object.entries(route.responses)) {
    const isError = Number(status) >= 400;
    responses[status] = isError
      ? errorResponse(doc.description)
      : { description: doc.description, ...(doc.schema ? { content: { 'application/json': { schema: plain(doc.schema) } } } : {}) };
  }
  const hasInput = route.params || route.query || route.body;
  if (hasInput && !responses['400']) responses['400'] = errorResponse('A parameter or the body is not valid');
  responses['401'] = errorResponse('No valid token with the urn:mas:admin scope');
  responses['503'] = errorResponse('The database or the homeserver is unavailable; try again shortly');
  return {
    operationId: route.operationId,
    summary: route.summary,
    ...(route.description ? { description: route.description } : {}),
    tags: [route.tag],
    parameters: parameters(route),
    ...(route.body
      ? { requestBody: { required: route.bodyRequired !== false, content: { 'application/json': { schema: plain(route.body) } } } }
      : {}),
    responses,
  };
}

export function buildOpenApi(routes: AdminRoute[], publicBase: string) {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const route of routes) {
    const path = `${API_PREFIX}${route.path}`;
    paths[path] ??= {};
    paths[path][route.method] = operation(route);
  }
  const url = (path: string) => new URL(path, publicBase).href;
  const scopes = { [MAS_ADMIN_SCOPE]: 'Grant access to the admin API' };
  return {
    openapi: '3.1.0',
    info: {
      title: 'Mauth admin API',
      version: VERSION,
      description: 'The admin API of Mauth, compatible with the Matrix Authentication Service admin API (`/api/admin/v1`).',
    },
    servers: [{ url: publicBase }],
    paths,
    components: {
      securitySchemes: {
        oauth2: {
          type: 'oauth2',
          flows: {
            clientCredentials: { tokenUrl: url('oauth2/token'), refreshUrl: url('oauth2/token'), scopes },
            authorizationCode: { authorizationUrl: url('authorize'), tokenUrl: url('oauth2/token'), refreshUrl: url('oauth2/token'), scopes },
          },
        },
        token: { type: 'http', scheme: 'bearer', description: 'An access token or a personal access token with access to the admin API' },
      },
    },
    security: [{ oauth2: [MAS_ADMIN_SCOPE] }, { token: [] }],
    tags: TAGS,
  };
}
