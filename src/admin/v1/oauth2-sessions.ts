// `oauth2-sessions`: list, get, finish. Finishing one destroys its grant, as signing out does:
// its tokens stop working and its device leaves the homeserver (delete_device job).
import { Type } from '@sinclair/typebox';
import { endOAuthSession } from '../../oidc/sessions.js';
import * as queries from '../../storage/admin-queries.js';
import * as sessions from '../../storage/admin-session-queries.js';
import { AdminError, notFound } from '../errors.js';
import { paginated, readPagination, single } from '../pagination.js';
import { API_PREFIX } from '../paths.js';
import { defineRoute, type CallContext } from '../route.js';
import { DateTime, FilterText, IdParams, Nullable, PaginatedResponse, PaginationQuery, SingleResponse, ULID_PATTERN, Ulid, UlidParam, iso } from '../schemas.js';
import { requireClientExists } from './oauth2-clients.js';
import { SessionFilterQuery, readSessionFilter } from './session-filters.js';

const KIND = 'oauth2-session';
const BASE = `${API_PREFIX}/oauth2-sessions`;

const Attributes = Type.Object(
  {
    created_at: DateTime,
    finished_at: Nullable(DateTime),
    user_id: Nullable(Ulid),
    user_session_id: Nullable(Ulid),
    client_id: Type.String({ description: 'The ID of the client which requested this session' }),
    scope: Type.String({ description: 'The scope granted for this session' }),
    user_agent: Nullable(Type.String()),
    last_active_at: Nullable(DateTime),
    last_active_ip: Nullable(Type.String()),
    human_name: Nullable(Type.String()),
  },
  { title: 'OAuth2Session' },
);

const attributes = (row: sessions.OAuth2SessionRow) => ({
  created_at: iso(row.created_at),
  finished_at: iso(row.finished_at),
  user_id: row.user_id,
  user_session_id: null,
  client_id: row.client_id,
  scope: row.scope,
  user_agent: row.user_agent,
  last_active_at: iso(row.last_active_at),
  last_active_ip: row.last_active_ip,
  human_name: row.human_name,
});

async function requireSession(app: CallContext['app'], id: string): Promise<sessions.OAuth2SessionRow> {
  const row = await queries.findOne<sessions.OAuth2SessionRow>(app.sql, sessions.oauth2SessionsListing(app.sql, {}), id);
  if (!row) throw notFound(`OAuth 2.0 session with ID ${id}`);
  return row;
}

const Response = SingleResponse(KIND, Attributes);

export const oauth2SessionRoutes = [
  defineRoute({
    method: 'get',
    path: '/oauth2-sessions',
    operationId: 'listOAuth2Sessions',
    summary: 'List OAuth 2.0 sessions',
    description: 'Retrieve a list of OAuth 2.0 sessions.\nNote that by default, all sessions, including finished ones are returned, with the oldest first.',
    tag: 'oauth2-session',
    query: Type.Object({
      ...PaginationQuery,
      ...SessionFilterQuery,
      'filter[client]': Type.Optional(Type.Array(Type.String({ pattern: ULID_PATTERN }), { maxItems: 50, description: 'Retrieve the items for any of the given clients' })),
      'filter[client-kind]': Type.Optional(Type.Union([Type.Literal('dynamic'), Type.Literal('static')], { description: 'Retrieve the items only for a specific client kind' })),
      'filter[user-session]': Type.Optional(UlidParam('Retrieve the items started from the given browser session')),
      'filter[scope]': Type.Optional(Type.Array(FilterText('A scope the sessions must hold', 512), { maxItems: 20, description: 'Retrieve the items with the given scope' })),
    }),
    responses: { 200: { description: 'Paginated response of OAuth 2.0 sessions', schema: PaginatedResponse(KIND, Attributes) }, 404: { description: 'User, client or user session was not found' } },
    async handler({ app, search }, { query }) {
      const userSession = query['filter[user-session]'];
      if (userSession !== undefined && !(await queries.findOne(app.sql, sessions.userSessionsListing(app.sql, {}), userSession))) {
        throw notFound(`User session ID ${userSession}`);
      }
      const common = await readSessionFilter(app.sql, query);
      for (const client of query['filter[client]'] ?? []) await requireClientExists(app, client);
      const filter: sessions.OAuth2SessionFilter = {
        ...common,
        clients: query['filter[client]'],
        clientKind: query['filter[client-kind]'],
        staticClients: app.config.clients.map((c) => c.client_id),
        userSession,
        scopes: query['filter[scope]'],
      };
      return paginated({
        kind: KIND,
        basePath: BASE,
        search,
        pagination: readPagination(query),
        list: (page) => sessions.listOAuth2Sessions(app.sql, filter, page),
        count: () => queries.countRows(app.sql, sessions.oauth2SessionsListing(app.sql, filter)),
        attributes,
      });
    },
  }),
  defineRoute({
    method: 'get',
    path: '/oauth2-sessions/{id}',
    operationId: 'getOAuth2Session',
    summary: 'Get an OAuth 2.0 session',
    tag: 'oauth2-session',
    params: IdParams,
    responses: { 200: { description: 'OAuth 2.0 session was found', schema: Response }, 404: { description: 'OAuth 2.0 session was not found' } },
    async handler({ app }, { params }) {
      const row = await requireSession(app, params.id);
      return single(KIND, BASE, row.id, attributes(row));
    },
  }),
  defineRoute({
    method: 'post',
    path: '/oauth2-sessions/{id}/finish',
    operationId: 'finishOAuth2Session',
    summary: 'Finish an OAuth 2.0 session',
    description: 'Calling this endpoint will finish the OAuth 2.0 session, preventing any further use. Its device is removed from the homeserver.',
    tag: 'oauth2-session',
    params: IdParams,
    responses: {
      200: { description: 'OAuth 2.0 session was finished', schema: Response },
      400: { description: 'Session is already finished' },
      404: { description: 'OAuth 2.0 session was not found' },
    },
    async handler({ app, deps }, { params }) {
      const row = await requireSession(app, params.id);
      if (row.finished_at) throw new AdminError(400, `OAuth 2.0 session with ID ${row.id} is already finished`);
      await endOAuthSession(deps.provider, row.grant_id);
      const ended = await requireSession(app, params.id);
      return single(KIND, BASE, ended.id, attributes(ended), `${BASE}/${ended.id}/finish`);
    },
  }),
];
