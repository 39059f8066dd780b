// `user-sessions`: browser sessions: list, get, finish (the browser is signed out).
import { Type } from '@sinclair/typebox';
import * as queries from '../../storage/admin-queries.js';
import * as sessions from '../../storage/admin-session-queries.js';
import * as browserSessions from '../../storage/browser-sessions.js';
import { AdminError, notFound } from '../errors.js';
import { paginated, readPagination, single } from '../pagination.js';
import { API_PREFIX } from '../paths.js';
import { defineRoute, type CallContext } from '../route.js';
import { DateTime, IdParams, Nullable, PaginatedResponse, PaginationQuery, SingleResponse, Ulid, iso } from '../schemas.js';
import { SessionFilterQuery, readSessionFilter } from './session-filters.js';

const KIND = 'user-session';
const BASE = `${API_PREFIX}/user-sessions`;

const Attributes = Type.Object(
  {
    created_at: DateTime,
    finished_at: Nullable(DateTime),
    user_id: Ulid,
    user_agent: Nullable(Type.String()),
    last_active_at: Nullable(DateTime),
    last_active_ip: Nullable(Type.String()),
  },
  { title: 'UserSession' },
);

const attributes = (row: sessions.UserSessionRow) => ({
  created_at: iso(row.created_at),
  finished_at: iso(row.finished_at),
  user_id: row.user_id,
  user_agent: row.user_agent,
  last_active_at: iso(row.last_active_at),
  last_active_ip: row.ip_address,
});

async function requireSession(app: CallContext['app'], id: string): Promise<sessions.UserSessionRow> {
  const row = await queries.findOne<sessions.UserSessionRow>(app.sql, sessions.userSessionsListing(app.sql, {}), id);
  if (!row) throw notFound(`User session with ID ${id}`);
  return row;
}

const Response = SingleResponse(KIND, Attributes);

export const userSessionRoutes = [
  defineRoute({
    method: 'get',
    path: '/user-sessions',
    operationId: 'listUserSessions',
    summary: 'List user sessions',
    description: 'Retrieve a list of user sessions (browser sessions).\nNote that by default, all sessions, including finished ones are returned, with the oldest first.',
    tag: 'user-session',
    query: Type.Object({ ...PaginationQuery, ...SessionFilterQuery }),
    responses: { 200: { description: 'Paginated response of user sessions', schema: PaginatedResponse(KIND, Attributes) }, 404: { description: 'User was not found' } },
    async handler({ app, search }, { query }) {
      const filter = await readSessionFilter(app.sql, query);
      return paginated({
        kind: KIND,
        basePath: BASE,
        search,
        pagination: readPagination(query),
        list: (page) => sessions.listUserSessions(app.sql, filter, page),
        count: () => queries.countRows(app.sql, sessions.userSessionsListing(app.sql, filter)),
        attributes,
      });
    },
  }),
  defineRoute({
    method: 'get',
    path: '/user-sessions/{id}',
    operationId: 'getUserSession',
    summary: 'Get a user session',
    tag: 'user-session',
    params: IdParams,
    responses: { 200: { description: 'User session was found', schema: Response }, 404: { description: 'User session was not found' } },
    async handler({ app }, { params }) {
      const row = await requireSession(app, params.id);
      return single(KIND, BASE, row.id, attributes(row));
    },
  }),
  defineRoute({
    method: 'post',
    path: '/user-sessions/{id}/finish',
    operationId: 'finishUserSession',
    summary: 'Finish a user session',
    description: 'Calling this endpoint will finish the user session (the browser is signed out).',
    tag: 'user-session',
    params: IdParams,
    responses: {
      200: { description: 'User session was finished', schema: Response },
      400: { description: 'Session is already finished' },
      404: { description: 'User session was not found' },
    },
    async handler({ app }, { params }) {
      const row = await requireSession(app, params.id);
      if (row.finished_at) throw new AdminError(400, `User session with ID ${row.id} is already finished`);
      await browserSessions.finish(app.sql, row.id);
      const ended = await requireSession(app, params.id);
      return single(KIND, BASE, ended.id, attributes(ended), `${BASE}/${ended.id}/finish`);
    },
  }),
];
