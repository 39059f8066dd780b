// `compat-sessions`: legacy (m.login.password, m.login.token) sessions: list, get, finish.
// Finishing one ends its tokens at once and removes its device through a delete_device job, as
// `/logout` does.
import { Type } from '@sinclair/typebox';
import { endCompatSessions } from '../../compat/sessions.js';
import * as queries from '../../storage/admin-queries.js';
import * as sessions from '../../storage/admin-session-queries.js';
import * as compat from '../../storage/compat.js';
import { AdminError, notFound } from '../errors.js';
import { paginated, readPagination, single } from '../pagination.js';
import { API_PREFIX } from '../paths.js';
import { defineRoute, type CallContext } from '../route.js';
import { DateTime, IdParams, Nullable, PaginatedResponse, PaginationQuery, SingleResponse, Ulid, UlidParam, iso } from '../schemas.js';
import { SessionFilterQuery, readSessionFilter } from './session-filters.js';

const KIND = 'compat-session';
const BASE = `${API_PREFIX}/compat-sessions`;

const Attributes = Type.Object(
  {
    user_id: Ulid,
    device_id: Nullable(Type.String({ description: 'The Matrix device ID of this session' })),
    user_session_id: Nullable(Ulid),
    redirect_uri: Nullable(Type.String({ description: 'The redirect URI used to login in the client (m.login.sso)' })),
    created_at: DateTime,
    user_agent: Nullable(Type.String()),
    last_active_at: Nullable(DateTime),
    last_active_ip: Nullable(Type.String()),
    finished_at: Nullable(DateTime),
    human_name: Nullable(Type.String()),
  },
  { title: 'CompatSession' },
);

const attributes = (row: sessions.CompatSessionRow) => ({
  user_id: row.user_id,
  device_id: row.device_id,
  user_session_id: null,
  redirect_uri: null,
  created_at: iso(row.created_at),
  user_agent: row.user_agent,
  last_active_at: iso(row.last_active_at),
  last_active_ip: null,
  finished_at: iso(row.finished_at),
  human_name: null,
});

async function requireSession(app: CallContext['app'], id: string): Promise<sessions.CompatSessionRow> {
  const row = await queries.findOne<sessions.CompatSessionRow>(app.sql, sessions.compatSessionsListing(app.sql, {}), id);
  if (!row) throw notFound(`Compatibility session with ID ${id}`);
  return row;
}

const Response = SingleResponse(KIND, Attributes);

export const compatSessionRoutes = [
  defineRoute({
    method: 'get',
    path: '/compat-sessions',
    operationId: 'listCompatSessions',
    summary: 'List compatibility sessions',
    description: 'Retrieve a list of compatibility sessions.\nNote that by default, all sessions, including finished ones are returned, with the oldest first.',
    tag: 'compat-session',
    query: Type.Object({ ...PaginationQuery, ...SessionFilterQuery, 'filter[user-session]': Type.Optional(UlidParam('Retrieve the items started from the given browser session')) }),
    responses: { 200: { description: 'Paginated response of compatibility sessions', schema: PaginatedResponse(KIND, Attributes) }, 404: { description: 'User or user session was not found' } },
    async handler({ app, search }, { query }) {
      const userSession = query['filter[user-session]'];
      if (userSession !== undefined && !(await queries.findOne(app.sql, sessions.userSessionsListing(app.sql, {}), userSession))) {
        throw notFound(`User session ID ${userSession}`);
      }
      const filter: sessions.CompatSessionFilter = { ...(await readSessionFilter(app.sql, query)), userSession };
      return paginated({
        kind: KIND,
        basePath: BASE,
        search,
        pagination: readPagination(query),
        list: (page) => sessions.listCompatSessions(app.sql, filter, page),
        count: () => queries.countRows(app.sql, sessions.compatSessionsListing(app.sql, filter)),
        attributes,
      });
    },
  }),
  defineRoute({
    method: 'get',
    path: '/compat-sessions/{id}',
    operationId: 'getCompatSession',
    summary: 'Get a compatibility session',
    tag: 'compat-session',
    params: IdParams,
    responses: { 200: { description: 'Compatibility session was found', schema: Response }, 404: { description: 'Compatibility session was not found' } },
    async handler({ app }, { params }) {
      const row = await requireSession(app, params.id);
      return single(KIND, BASE, row.id, attributes(row));
    },
  }),
  defineRoute({
    method: 'post',
    path: '/compat-sessions/{id}/finish',
    operationId: 'finishCompatSession',
    summary: 'Finish a compatibility session',
    description: 'Calling this endpoint will finish the compatibility session, preventing any further use. Its device is removed from the homeserver.',
    tag: 'compat-session',
    params: IdParams,
    responses: {
      200: { description: 'Compatibility session was finished', schema: Response },
      400: { description: 'Session is already finished' },
      404: { description: 'Compatibility session was not found' },
    },
    async handler({ app }, { params }) {
      await requireSession(app, params.id);
      const ended = await endCompatSessions(app, async (tx) => {
        const session = await compat.finishSession(tx, params.id);
        return session ? [session] : [];
      });
      if (ended === 0) throw new AdminError(400, `Compatibility session with ID ${params.id} is already finished`);
      const row = await requireSession(app, params.id);
      return single(KIND, BASE, row.id, attributes(row), `${BASE}/${row.id}/finish`);
    },
  }),
];
