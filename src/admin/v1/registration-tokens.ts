// `user-registration-tokens`: tokens that let people register when registration requires one.
// They are found by their hash at registration; the admin API keeps them sealed beside it so it
// can show them again, as MAS does.
import { Type } from '@sinclair/typebox';
import type { AppContext } from '../../context.js';
import { seal, unseal } from '../../domain/seal.js';
import { hashSecret, randomAlphanumeric } from '../../domain/tokens.js';
import * as registrations from '../../storage/registrations.js';
import * as queries from '../../storage/admin-queries.js';
import { AdminError, notFound } from '../errors.js';
import { paginated, readPagination, single } from '../pagination.js';
import { API_PREFIX } from '../paths.js';
import { defineRoute } from '../route.js';
import { DateTime, IdParams, Nullable, PaginatedResponse, PaginationQuery, SingleResponse, iso } from '../schemas.js';

// MAS's resource type, spelling included.
const KIND = 'user-registration_token';
const BASE = `${API_PREFIX}/user-registration-tokens`;

const Attributes = Type.Object(
  {
    token: Nullable(Type.String({ description: 'The token string (null for a token created without the admin API, whose only trace is its hash)' })),
    valid: Type.Boolean({ description: 'Whether the token is valid: not revoked, expired or used up' }),
    usage_limit: Nullable(Type.Integer({ minimum: 0 })),
    times_used: Type.Integer({ minimum: 0 }),
    created_at: DateTime,
    last_used_at: Nullable(DateTime),
    expires_at: Nullable(DateTime),
    revoked_at: Nullable(DateTime),
  },
  { title: 'UserRegistrationToken' },
);

async function attributes(app: AppContext, row: registrations.RegistrationTokenRow) {
  const now = app.clock.now();
  let token: string | null = null;
  if (row.sealed_token) token = await unseal(app.config.secrets.encryption, row.sealed_token).catch(() => null);
  return {
    token,
    valid: !row.revoked_at && (!row.expires_at || row.expires_at > now) && (row.usage_limit === null || row.times_used < row.usage_limit),
    usage_limit: row.usage_limit,
    times_used: row.times_used,
    created_at: iso(row.created_at),
    last_used_at: iso(row.last_used_at),
    expires_at: iso(row.expires_at),
    revoked_at: iso(row.revoked_at),
  };
}

async function requireToken(app: AppContext, id: string): Promise<registrations.RegistrationTokenRow> {
  const row = await registrations.findRegistrationTokenById(app.sql, id);
  if (!row) throw notFound(`Registration token with ID ${id}`);
  return row;
}

const Response = SingleResponse(KIND, Attributes);
const UsageLimit = Type.Integer({ minimum: 1, maximum: 2147483647, description: 'Maximum number of times this token can be used' });
const Expiry = Type.String({ format: 'date-time', maxLength: 64, description: 'When the token expires' });

async function toggle(app: AppContext, id: string, revoke: boolean) {
  const row = await requireToken(app, id);
  if (revoke === (row.revoked_at !== null)) {
    throw new AdminError(400, `Registration token with ID ${id} is ${revoke ? 'already revoked' : 'not revoked'}`);
  }
  const changed = await registrations.updateRegistrationToken(app.sql, id, { revokedAt: revoke ? app.clock.now() : null });
  return single(KIND, BASE, id, await attributes(app, changed ?? row), `${BASE}/${id}/${revoke ? 'revoke' : 'unrevoke'}`);
}

export const registrationTokenRoutes = [
  defineRoute({
    method: 'get',
    path: '/user-registration-tokens',
    operationId: 'listUserRegistrationTokens',
    summary: 'List user registration tokens',
    tag: 'user-registration-token',
    query: Type.Object({
      ...PaginationQuery,
      'filter[used]': Type.Optional(Type.Boolean({ description: 'Retrieve tokens that have (or have not) been used at least once' })),
      'filter[revoked]': Type.Optional(Type.Boolean({ description: 'Retrieve tokens that are (or are not) revoked' })),
      'filter[expired]': Type.Optional(Type.Boolean({ description: 'Retrieve tokens that are (or are not) expired' })),
      'filter[valid]': Type.Optional(Type.Boolean({ description: 'Retrieve tokens that are (or are not) valid' })),
    }),
    responses: { 200: { description: 'Paginated response of registration tokens', schema: PaginatedResponse(KIND, Attributes) } },
    async handler({ app, search }, { query }) {
      const filter: registrations.RegistrationTokenFilter = {
        used: query['filter[used]'],
        revoked: query['filter[revoked]'],
        expired: query['filter[expired]'],
        valid: query['filter[valid]'],
        now: app.clock.now(),
      };
      const pagination = readPagination(query);
      const page = pagination.include === 'only' ? undefined : await registrations.listRegistrationTokens(app.sql, filter, pagination.page);
      const shown = new Map(page ? await Promise.all(page.items.map(async (row) => [row.id, await attributes(app, row)] as const)) : []);
      return paginated({
        kind: KIND,
        basePath: BASE,
        search,
        pagination,
        list: async () => page!,
        count: () => queries.countRows(app.sql, registrations.registrationTokensListing(app.sql, filter)),
        attributes: (row) => shown.get(row.id)!,
      });
    },
  }),
  defineRoute({
    method: 'post',
    path: '/user-registration-tokens',
    operationId: 'addUserRegistrationToken',
    summary: 'Create a new user registration token',
    tag: 'user-registration-token',
    body: Type.Object(
      {
        token: Type.Optional(Type.String({ minLength: 1, maxLength: 255, description: 'The token string. If not provided, a random token will be generated.' })),
        usage_limit: Type.Optional(UsageLimit),
        expires_at: Type.Optional(Expiry),
      },
      { title: 'AddUserRegistrationTokenRequest' },
    ),
    responses: { 201: { description: 'A new user registration token was created', schema: Response }, 409: { description: 'A registration token with the same token already exists' } },
    async handler({ app }, { body }) {
      const token = body.token ?? randomAlphanumeric(12, app.random);
      const row = await registrations.addRegistrationToken(app.sql, {
        tokenHash: hashSecret(token),
        sealedToken: await seal(app.config.secrets.encryption, token),
        usageLimit: body.usage_limit ?? null,
        expiresAt: body.expires_at === undefined ? null : new Date(body.expires_at),
        now: app.clock.now(),
      });
      if (!row) throw new AdminError(409, 'A registration token with the same token already exists');
      return single(KIND, BASE, row.id, await attributes(app, row), undefined, 201);
    },
  }),
  defineRoute({
    method: 'get',
    path: '/user-registration-tokens/{id}',
    operationId: 'getUserRegistrationToken',
    summary: 'Get a user registration token',
    tag: 'user-registration-token',
    params: IdParams,
    responses: { 200: { description: 'Registration token was found', schema: Response }, 404: { description: 'Registration token was not found' } },
    async handler({ app }, { params }) {
      const row = await requireToken(app, params.id);
      return single(KIND, BASE, row.id, await attributes(app, row));
    },
  }),
  defineRoute({
    method: 'put',
    path: '/user-registration-tokens/{id}',
    operationId: 'updateUserRegistrationToken',
    summary: 'Update a user registration token',
    description:
      'Update properties of a user registration token such as expiration and usage limit. To set a field to null (removing the limit/expiration), include the field with a null value. To leave a field unchanged, omit it from the request body.',
    tag: 'user-registration-token',
    params: IdParams,
    body: Type.Object(
      { expires_at: Type.Optional(Nullable(Expiry)), usage_limit: Type.Optional(Nullable(UsageLimit)) },
      { title: 'EditUserRegistrationTokenRequest' },
    ),
    responses: {
      200: { description: 'Registration token was updated', schema: Response },
      400: { description: 'The usage limit is below the number of uses so far' },
      404: { description: 'Registration token was not found' },
    },
    async handler({ app }, { params, body }) {
      const row = await requireToken(app, params.id);
      const change: { expiresAt?: Date | null; usageLimit?: number | null } = {};
      if (body.expires_at !== undefined) change.expiresAt = body.expires_at === null ? null : new Date(body.expires_at);
      if (body.usage_limit !== undefined) change.usageLimit = body.usage_limit;
      const updated = await registrations.updateRegistrationToken(app.sql, params.id, change);
      if (!updated) throw new AdminError(400, `The usage limit cannot be below the ${row.times_used} uses of the token so far`);
      return single(KIND, BASE, updated.id, await attributes(app, updated));
    },
  }),
  defineRoute({
    method: 'post',
    path: '/user-registration-tokens/{id}/revoke',
    operationId: 'revokeUserRegistrationToken',
    summary: 'Revoke a user registration token',
    description: 'Calling this endpoint will revoke the user registration token, preventing it from being used for new registrations.',
    tag: 'user-registration-token',
    params: IdParams,
    responses: { 200: { description: 'Registration token was revoked', schema: Response }, 400: { description: 'Token is already revoked' }, 404: { description: 'Registration token was not found' } },
    handler: ({ app }, { params }) => toggle(app, params.id, true),
  }),
  defineRoute({
    method: 'post',
    path: '/user-registration-tokens/{id}/unrevoke',
    operationId: 'unrevokeUserRegistrationToken',
    summary: 'Unrevoke a user registration token',
    description:
      'Calling this endpoint will unrevoke a previously revoked user registration token, allowing it to be used for registrations again (subject to its usage limits and expiration).',
    tag: 'user-registration-token',
    params: IdParams,
    responses: { 200: { description: 'Registration token was unrevoked', schema: Response }, 400: { description: 'Token is not revoked' }, 404: { description: 'Registration token was not found' } },
    handler: ({ app }, { params }) => toggle(app, params.id, false),
  }),
];
