// `personal-sessions`: personal access tokens (`mpt_…`). Created and regenerated here, their token
// is shown in that answer only (`access_token`); the database keeps its hash.
import { Type } from '@sinclair/typebox';
import { createPersonalSession, InvalidPersonalScopeError, regeneratePersonalToken } from '../../accounts/personal-tokens.js';
import * as queries from '../../storage/admin-queries.js';
import * as personalSessions from '../../storage/personal-sessions.js';
import * as users from '../../storage/users.js';
import { ownerOf } from '../auth.js';
import { AdminError, notFound } from '../errors.js';
import { paginated, readPagination, single } from '../pagination.js';
import { API_PREFIX } from '../paths.js';
import { defineRoute, type CallContext } from '../route.js';
import { requireClientExists } from './oauth2-clients.js';
import { DateTime, DateTimeParam, FilterText, IdParams, Nullable, PaginatedResponse, PaginationQuery, SingleResponse, Ulid, UlidParam, iso } from '../schemas.js';

const KIND = 'personal-session';
const BASE = `${API_PREFIX}/personal-sessions`;

const Attributes = Type.Object(
  {
    created_at: DateTime,
    revoked_at: Nullable(DateTime),
    owner_user_id: Nullable(Ulid),
    owner_client_id: Nullable(Type.String({ description: 'The OAuth 2.0 client that owns this session (client_credentials)' })),
    actor_user_id: Ulid,
    human_name: Type.String({ description: 'A human-readable name for the session' }),
    scope: Type.String({ description: 'The scope granted for this session' }),
    last_active_at: Nullable(DateTime),
    last_active_ip: Nullable(Type.String()),
    expires_at: Nullable(DateTime),
    access_token: Type.Optional(Type.String({ description: 'The token, only in the answer that created it' })),
  },
  { title: 'PersonalSession' },
);

function attributes(row: personalSessions.PersonalSession, token?: string) {
  return {
    created_at: iso(row.created_at),
    revoked_at: iso(row.revoked_at),
    owner_user_id: row.owner_user_id,
    owner_client_id: row.owner_client_id,
    actor_user_id: row.actor_user_id,
    human_name: row.human_name,
    scope: row.scope,
    last_active_at: iso(row.last_active_at),
    last_active_ip: null,
    expires_at: iso(row.expires_at),
    ...(token !== undefined ? { access_token: token } : {}),
  };
}

async function requireSession(app: CallContext['app'], id: string): Promise<personalSessions.PersonalSession> {
  const row = await personalSessions.find(app.sql, id);
  if (!row) throw notFound(`Personal session with ID ${id}`);
  return row;
}

const Response = SingleResponse(KIND, Attributes);
const ExpiresIn = Type.Integer({ minimum: 1, maximum: 4294967295, description: 'Token expiry time in seconds. If not set, the token won\'t expire.' });

export const personalSessionRoutes = [
  defineRoute({
    method: 'get',
    path: '/personal-sessions',
    operationId: 'listPersonalSessions',
    summary: 'List personal sessions',
    description: 'Retrieve a list of personal sessions.\nNote that by default, all sessions, including revoked ones are returned, with the oldest first.',
    tag: 'personal-session',
    query: Type.Object({
      ...PaginationQuery,
      'filter[owner_user]': Type.Optional(UlidParam('Filter by owner user ID')),
      'filter[owner_client]': Type.Optional(UlidParam('Filter by owner OAuth 2.0 client ID')),
      'filter[actor_user]': Type.Optional(UlidParam('Filter by actor user ID')),
      'filter[scope]': Type.Optional(Type.Array(FilterText('A scope the sessions must hold', 512), { maxItems: 20, description: 'Retrieve the items with the given scope' })),
      'filter[status]': Type.Optional(Type.Union([Type.Literal('active'), Type.Literal('revoked')], { description: 'Filter by session status' })),
      'filter[expires_before]': Type.Optional(DateTimeParam('Filter by access token expiry date')),
      'filter[expires_after]': Type.Optional(DateTimeParam('Filter by access token expiry date')),
      'filter[expires]': Type.Optional(Type.Boolean({ description: 'Filter by whether the access token has an expiry time' })),
    }),
    responses: { 200: { description: 'Paginated response of personal sessions', schema: PaginatedResponse(KIND, Attributes) }, 404: { description: 'User or client was not found' } },
    async handler({ app, search }, { query }) {
      // As MAS: a user or client that does not exist is a 404, not a filter matching nobody.
      for (const user of [query['filter[owner_user]'], query['filter[actor_user]']]) {
        if (user !== undefined && !(await users.findById(app.sql, user))) throw notFound(`User ID ${user}`);
      }
      if (query['filter[owner_client]'] !== undefined) await requireClientExists(app, query['filter[owner_client]']);
      const date = (value: string | undefined) => (value === undefined ? undefined : new Date(value));
      const filter: personalSessions.PersonalSessionFilter = {
        ownerUser: query['filter[owner_user]'],
        ownerClient: query['filter[owner_client]'],
        actorUser: query['filter[actor_user]'],
        scopes: query['filter[scope]'],
        status: query['filter[status]'],
        expiresBefore: date(query['filter[expires_before]']),
        expiresAfter: date(query['filter[expires_after]']),
        expires: query['filter[expires]'],
      };
      return paginated({
        kind: KIND,
        basePath: BASE,
        search,
        pagination: readPagination(query),
        list: (page) => personalSessions.list(app.sql, filter, page),
        count: () => queries.countRows(app.sql, personalSessions.listing(app.sql, filter)),
        attributes: (row) => attributes(row),
      });
    },
  }),
  defineRoute({
    method: 'post',
    path: '/personal-sessions',
    operationId: 'createPersonalSession',
    summary: 'Create a new personal session with personal access token',
    tag: 'personal-session',
    body: Type.Object(
      {
        actor_user_id: Ulid,
        human_name: Type.String({ minLength: 1, maxLength: 256, description: 'Human-readable name for the session' }),
        scope: Type.String({ minLength: 1, maxLength: 2048, description: 'OAuth 2.0 scopes for this session' }),
        expires_in: Type.Optional(ExpiresIn),
      },
      { title: 'CreatePersonalSessionRequest' },
    ),
    responses: {
      201: { description: 'Personal session and personal access token were created', schema: Response },
      400: { description: 'Invalid scope' },
      404: { description: 'User was not found' },
      410: { description: 'User is not active' },
    },
    async handler({ app, caller }, { body }) {
      const actor = await users.findById(app.sql, body.actor_user_id);
      if (!actor) throw notFound('User');
      if (!users.isActive(actor)) throw new AdminError(410, 'User is not active');
      try {
        const issued = await createPersonalSession(app, { owner: ownerOf(caller), actor, humanName: body.human_name, scope: body.scope, expiresIn: body.expires_in });
        return single(KIND, BASE, issued.session.id, attributes(issued.session, issued.token), undefined, 201);
      } catch (err) {
        if (err instanceof InvalidPersonalScopeError) throw new AdminError(400, `Invalid scope: ${err.message}`);
        throw err;
      }
    },
  }),
  defineRoute({
    method: 'get',
    path: '/personal-sessions/{id}',
    operationId: 'getPersonalSession',
    summary: 'Get a personal session',
    tag: 'personal-session',
    params: IdParams,
    responses: { 200: { description: 'Personal session details', schema: Response }, 404: { description: 'Personal session not found' } },
    async handler({ app }, { params }) {
      const row = await requireSession(app, params.id);
      return single(KIND, BASE, row.id, attributes(row));
    },
  }),
  defineRoute({
    method: 'post',
    path: '/personal-sessions/{id}/revoke',
    operationId: 'revokePersonalSession',
    summary: 'Revoke a personal session',
    tag: 'personal-session',
    params: IdParams,
    responses: {
      200: { description: 'Personal session was revoked', schema: Response },
      404: { description: 'Personal session not found' },
      409: { description: 'Personal session already revoked' },
    },
    async handler({ app }, { params }) {
      await requireSession(app, params.id);
      const revoked = await app.sql.begin((tx) => personalSessions.revoke(tx, params.id, app.clock.now()));
      if (!revoked) throw new AdminError(409, `Personal session with ID ${params.id} is already revoked`);
      return single(KIND, BASE, revoked.id, attributes(revoked));
    },
  }),
  defineRoute({
    method: 'post',
    path: '/personal-sessions/{id}/regenerate',
    operationId: 'regeneratePersonalSession',
    summary: 'Regenerate a personal session by replacing its personal access token',
    tag: 'personal-session',
    params: IdParams,
    body: Type.Object({ expires_in: Type.Optional(ExpiresIn) }, { title: 'RegeneratePersonalSessionRequest' }),
    bodyRequired: false,
    responses: {
      201: { description: 'Personal session was regenerated and a personal access token was created', schema: Response },
      403: { description: 'Session does not belong to the caller' },
      404: { description: 'Personal session not found' },
      422: { description: 'Session is revoked' },
    },
    async handler({ app, caller }, { params, body }) {
      const row = await requireSession(app, params.id);
      if (row.revoked_at) throw new AdminError(422, 'Session not valid');
      const owner = ownerOf(caller);
      const mine = 'userId' in owner ? row.owner_user_id === owner.userId : row.owner_client_id === owner.clientId;
      if (!mine) throw new AdminError(403, 'Session does not belong to you');
      const issued = await regeneratePersonalToken(app, row.id, body.expires_in);
      if (!issued) throw new AdminError(422, 'Session not valid');
      return single(KIND, BASE, issued.session.id, attributes(issued.session, issued.token), undefined, 201);
    },
  }),
];
