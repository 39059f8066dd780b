// `oauth2-clients`: the clients of the configuration (`clients`) and those registered
// dynamically, listed together.
import { Type } from '@sinclair/typebox';
import type { AppContext } from '../../context.js';
import { staticClientGrantTypes } from '../../oidc/client-credentials.js';
import * as queries from '../../storage/admin-queries.js';
import * as clients from '../../storage/admin-client-queries.js';
import { notFound } from '../errors.js';
import { paginated, readPagination, single } from '../pagination.js';
import { API_PREFIX } from '../paths.js';
import { defineRoute } from '../route.js';
import { FilterText, IdParams, Nullable, PaginatedResponse, PaginationQuery, SingleResponse } from '../schemas.js';

const KIND = 'oauth2-client';
const BASE = `${API_PREFIX}/oauth2-clients`;

const Attributes = Type.Object(
  {
    client_id: Type.String({ description: 'The client ID' }),
    client_name: Nullable(Type.String()),
    client_uri: Nullable(Type.String()),
    logo_uri: Nullable(Type.String()),
    redirect_uris: Type.Array(Type.String()),
    grant_types: Type.Array(Type.String()),
    is_static: Type.Boolean({ description: 'Whether the client is declared in the configuration' }),
  },
  { title: 'OAuth2Client' },
);

const text = (value: unknown) => (typeof value === 'string' ? value : null);
const texts = (value: unknown, fallback: string[] = []) => (Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : fallback);

function attributes(row: clients.ClientRow) {
  const m = row.metadata;
  return {
    client_id: row.id,
    client_name: text(m.client_name),
    client_uri: text(m.client_uri),
    logo_uri: text(m.logo_uri),
    redirect_uris: texts(m.redirect_uris),
    grant_types: texts(m.grant_types, ['authorization_code']),
    is_static: row.is_static,
  };
}

/** The configuration's clients as the listing reads them (no secrets). */
function staticClients(app: AppContext): Record<string, unknown>[] {
  return app.config.clients.map((c) => ({
    client_id: c.client_id,
    client_name: c.client_name ?? null,
    redirect_uris: c.redirect_uris,
    grant_types: staticClientGrantTypes(c),
    token_endpoint_auth_method: c.client_auth_method,
  }));
}

/** A 404 in MAS's words unless the client is configured or registered (filters naming a client). */
export async function requireClientExists(app: AppContext, id: string): Promise<void> {
  if (!(await queries.findOne(app.sql, clients.clientsListing(app.sql, staticClients(app), {}), id))) throw notFound(`Client ID ${id}`);
}

export const oauth2ClientRoutes = [
  defineRoute({
    method: 'get',
    path: '/oauth2-clients',
    operationId: 'listOAuth2Clients',
    summary: 'List OAuth 2.0 clients',
    tag: 'oauth2-client',
    query: Type.Object({
      ...PaginationQuery,
      'filter[client-kind]': Type.Optional(Type.Union([Type.Literal('dynamic'), Type.Literal('static')], { description: 'Retrieve only clients of the given kind' })),
      'filter[client-name]': Type.Optional(FilterText("Substring (case-insensitive) match on the client's `client_name`")),
      'filter[client-uri]': Type.Optional(FilterText("Substring (case-insensitive) match on the client's `client_uri`", 1024)),
      'filter[grant-type]': Type.Optional(FilterText('Retrieve only clients which support the given grant type')),
      'filter[has-active-sessions]': Type.Optional(Type.Boolean({ description: 'Retrieve only clients which have (or not) an active OAuth 2.0 session' })),
    }),
    responses: { 200: { description: 'Paginated response of OAuth 2.0 clients', schema: PaginatedResponse(KIND, Attributes) } },
    async handler({ app, search }, { query }) {
      const filter: clients.ClientFilter = {
        kind: query['filter[client-kind]'],
        name: query['filter[client-name]'],
        uri: query['filter[client-uri]'],
        grantType: query['filter[grant-type]'],
        hasActiveSessions: query['filter[has-active-sessions]'],
      };
      const statics = staticClients(app);
      return paginated({
        kind: KIND,
        basePath: BASE,
        search,
        pagination: readPagination(query),
        list: (page) => clients.listClients(app.sql, statics, filter, page),
        count: () => queries.countRows(app.sql, clients.clientsListing(app.sql, statics, filter)),
        attributes,
      });
    },
  }),
  defineRoute({
    method: 'get',
    path: '/oauth2-clients/{id}',
    operationId: 'getOAuth2Client',
    summary: 'Get an OAuth 2.0 client',
    tag: 'oauth2-client',
    params: IdParams,
    responses: { 200: { description: 'OAuth 2.0 client was found', schema: SingleResponse(KIND, Attributes) }, 404: { description: 'OAuth 2.0 client was not found' } },
    async handler({ app }, { params }) {
      const row = await queries.findOne<clients.ClientRow>(app.sql, clients.clientsListing(app.sql, staticClients(app), {}), params.id);
      if (!row) throw notFound(`OAuth 2.0 client with ID ${params.id}`);
      return single(KIND, BASE, row.id, attributes(row));
    },
  }),
];
