// `users`: list (with MAS's filters), get, get by username, create.
import { Type } from '@sinclair/typebox';
import { createAccount, InvalidUsernameError } from '../../accounts/create-account.js';
import { matrixUserId, validateUsername } from '../../domain/usernames.js';
import * as queries from '../../storage/admin-queries.js';
import type { Db } from '../../storage/db.js';
import * as users from '../../storage/users.js';
import { AdminError, notFound } from '../errors.js';
import { paginated, readPagination, single } from '../pagination.js';
import { defineRoute } from '../route.js';
import { DateTime, FilterText, IdParams, Nullable, PaginatedResponse, PaginationQuery, QueryBoolean, SingleResponse, Ulid, iso } from '../schemas.js';
import { API_PREFIX } from '../paths.js';
import { requireClientExists } from './oauth2-clients.js';

export const USER = 'user';
export const USERS_PATH = `${API_PREFIX}/users`;

export const UserAttributes = Type.Object(
  {
    username: Type.String({ description: 'The username (localpart) of the user' }),
    created_at: DateTime,
    locked_at: Nullable(DateTime),
    deactivated_at: Nullable(DateTime),
    admin: Type.Boolean({ description: 'Whether the user can request admin privileges' }),
    legacy_guest: Type.Boolean({ description: 'Whether the user was a guest before migrating to MAS (never, in Mauth)' }),
  },
  { title: 'User' },
);

export function userAttributes(user: users.User) {
  return {
    username: user.username,
    created_at: iso(user.created_at),
    locked_at: iso(user.locked_at),
    deactivated_at: iso(user.deactivated_at),
    admin: user.can_request_admin,
    legacy_guest: false,
  };
}

export const UserResponse = SingleResponse(USER, UserAttributes);

/** The user, or a 404 in the API's shape. */
export async function requireUser(db: Db, id: string): Promise<users.User> {
  const user = await users.findById(db, id);
  if (!user) throw notFound(`User ID ${id}`);
  return user;
}

const ListQuery = Type.Object({
  ...PaginationQuery,
  'filter[admin]': Type.Optional(QueryBoolean('Retrieve users with (or without) the `admin` flag set')),
  'filter[legacy-guest]': Type.Optional(QueryBoolean('Retrieve users with (or without) the `legacy_guest` flag set')),
  'filter[search]': Type.Optional(FilterText('Retrieve users whose username contains the given string')),
  'filter[status]': Type.Optional(
    Type.Union([Type.Literal('active'), Type.Literal('locked'), Type.Literal('deactivated')], {
      description: 'Retrieve the users with the given status (`locked` includes deactivated users)',
    }),
  ),
  'filter[active-oauth2-client]': Type.Optional(Type.Array(Ulid, { maxItems: 50, description: 'Retrieve users with an active OAuth 2.0 session of any of these clients' })),
  'filter[has-active-oauth2-session]': Type.Optional(QueryBoolean('Retrieve users which have (or not) an active OAuth 2.0 session')),
  'filter[has-active-compat-session]': Type.Optional(QueryBoolean('Retrieve users which have (or not) an active compatibility session')),
});

const CreateBody = Type.Object(
  {
    username: Type.String({ minLength: 1, maxLength: 255, description: 'The username of the user to add' }),
    skip_homeserver_check: Type.Optional(Type.Boolean({ description: 'Skip checking with the homeserver whether the username is available' })),
    displayname: Type.Optional(Type.String({ maxLength: 256, description: 'The display name of the user to add' })),
    avatar_url: Type.Optional(Type.String({ maxLength: 1024, description: 'The avatar URL of the user to add' })),
  },
  { title: 'AddUserRequest' },
);

export const userRoutes = [
  defineRoute({
    method: 'get',
    path: '/users',
    operationId: 'listUsers',
    summary: 'List users',
    tag: 'user',
    query: ListQuery,
    responses: { 200: { description: 'Paginated response of users', schema: PaginatedResponse(USER, UserAttributes) }, 404: { description: 'Client was not found' } },
    async handler({ app, search }, { query }) {
      const clients = query['filter[active-oauth2-client]'];
      // As MAS: a client that does not exist is a mistake to report, not a filter matching nobody.
      for (const client of clients ?? []) await requireClientExists(app, client);
      const filter: queries.UserFilter = {
        admin: query['filter[admin]'],
        legacyGuest: query['filter[legacy-guest]'],
        search: query['filter[search]'],
        status: query['filter[status]'],
        activeOAuth2Clients: clients,
        hasActiveOAuth2Session: query['filter[has-active-oauth2-session]'],
        hasActiveCompatSession: query['filter[has-active-compat-session]'],
      };
      return paginated({
        kind: USER,
        basePath: USERS_PATH,
        search,
        pagination: readPagination(query),
        list: (page) => queries.listUsers(app.sql, filter, page),
        count: () => queries.countRows(app.sql, queries.usersListing(app.sql, filter)),
        attributes: userAttributes,
      });
    },
  }),
  defineRoute({
    method: 'post',
    path: '/users',
    operationId: 'createUser',
    summary: 'Create a new user',
    tag: 'user',
    body: CreateBody,
    responses: {
      201: { description: 'User was created', schema: UserResponse },
      400: { description: 'Username is not valid' },
      409: { description: 'User already exists, or the username is reserved by the homeserver' },
    },
    async handler({ app }, { body }) {
      if (await users.findByUsername(app.sql, body.username)) throw new AdminError(409, 'User already exists');
      const problem = validateUsername(body.username, app.config.matrix.homeserver);
      if (problem) throw new AdminError(400, `Username is not valid: ${problem}`);
      const availability = await app.homeserver.isLocalpartAvailable(body.username);
      if (!availability.available) {
        if (!body.skip_homeserver_check) throw new AdminError(409, 'Username is reserved by the homeserver');
        app.log.warn({ username: body.username, errcode: availability.errcode }, 'admin API: homeserver check skipped for a username it does not offer');
      }
      let user: users.User;
      try {
        ({ user } = await app.sql.begin((tx) => createAccount(tx, { username: body.username, displayName: body.displayname ?? null })));
      } catch (err) {
        if (err instanceof users.UsernameTakenError) throw new AdminError(409, 'User already exists');
        if (err instanceof InvalidUsernameError) throw new AdminError(400, `Username is not valid: ${err.message}`);
        throw err;
      }
      if (body.avatar_url !== undefined) {
        // Mauth keeps no avatar: it goes to the homeserver now (the queued provisioning leaves it).
        await app.homeserver
          .provisionUser({ localpart: user.username, displayName: body.displayname, avatarUrl: body.avatar_url })
          .catch((err: unknown) => app.log.warn({ err, user: matrixUserId(user.username, app.config.matrix.homeserver) }, 'admin API: could not set the avatar of a new user'));
      }
      return single(USER, USERS_PATH, user.id, userAttributes(user), undefined, 201);
    },
  }),
  defineRoute({
    method: 'get',
    path: '/users/{id}',
    operationId: 'getUser',
    summary: 'Get a user',
    tag: 'user',
    params: IdParams,
    responses: { 200: { description: 'User was found', schema: UserResponse }, 404: { description: 'User was not found' } },
    async handler({ app }, { params }) {
      const user = await requireUser(app.sql, params.id);
      return single(USER, USERS_PATH, user.id, userAttributes(user));
    },
  }),
  defineRoute({
    method: 'get',
    path: '/users/by-username/{username}',
    operationId: 'getUserByUsername',
    summary: 'Get a user by its username (localpart)',
    tag: 'user',
    params: Type.Object({ username: Type.String({ minLength: 1, maxLength: 255, description: 'The username (localpart) of the user to get' }) }),
    responses: { 200: { description: 'User was found', schema: UserResponse }, 404: { description: 'User was not found' } },
    async handler({ app }, { params }) {
      const user = await users.findByUsername(app.sql, params.username);
      if (!user) throw notFound(`User with username ${JSON.stringify(params.username)}`);
      return single(USER, USERS_PATH, user.id, userAttributes(user), `${USERS_PATH}/by-username/${encodeURIComponent(params.username)}`);
    },
  }),
];
