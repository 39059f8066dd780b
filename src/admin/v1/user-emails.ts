// `user-emails`: the (verified) addresses of accounts. Adding or removing one updates the
// homeserver through the provisioning job, as the account pages do.
import { Type } from '@sinclair/typebox';
import { asciiLower, emailKey, parseEmailAddress } from '../../domain/email-address.js';
import { enqueueProvisionUser } from '../../jobs/homeserver-jobs.js';
import * as queries from '../../storage/admin-queries.js';
import * as users from '../../storage/users.js';
import { AdminError, notFound } from '../errors.js';
import { paginated, readPagination, single } from '../pagination.js';
import { API_PREFIX } from '../paths.js';
import { defineRoute } from '../route.js';
import { DateTime, FilterText, IdParams, PaginatedResponse, PaginationQuery, SingleResponse, Ulid, iso } from '../schemas.js';

const KIND = 'user-email';
const BASE = `${API_PREFIX}/user-emails`;

const Attributes = Type.Object(
  { created_at: DateTime, user_id: Ulid, email: Type.String({ description: 'The email address' }) },
  { title: 'UserEmail' },
);

const attributes = (row: users.UserEmail) => ({ created_at: iso(row.created_at), user_id: row.user_id, email: row.email });

export const userEmailRoutes = [
  defineRoute({
    method: 'get',
    path: '/user-emails',
    operationId: 'listUserEmails',
    summary: 'List user emails',
    tag: 'user-email',
    query: Type.Object({
      ...PaginationQuery,
      'filter[user]': Type.Optional(Type.String({ pattern: Ulid.pattern, description: 'Retrieve the items for the given user' })),
      'filter[email]': Type.Optional(FilterText('Retrieve the user email with the given email address', 320)),
    }),
    responses: { 200: { description: 'Paginated response of user emails', schema: PaginatedResponse(KIND, Attributes) }, 404: { description: 'User was not found' } },
    async handler({ app, search }, { query }) {
      const user = query['filter[user]'];
      if (user !== undefined && !(await users.findById(app.sql, user))) throw notFound(`User ID ${user}`);
      const email = query['filter[email]'];
      const filter: queries.UserEmailFilter = { user, emailKey: email === undefined ? undefined : (emailKey(email) ?? asciiLower(email)) };
      return paginated({
        kind: KIND,
        basePath: BASE,
        search,
        pagination: readPagination(query),
        list: (page) => queries.listUserEmails(app.sql, filter, page),
        count: () => queries.countRows(app.sql, queries.userEmailsListing(app.sql, filter)),
        attributes,
      });
    },
  }),
  defineRoute({
    method: 'post',
    path: '/user-emails',
    operationId: 'addUserEmail',
    summary: 'Add a user email',
    description: 'Add an email address to a user.\nNote that this endpoint ignores any policy which would normally prevent the email from being added.',
    tag: 'user-email',
    body: Type.Object(
      {
        user_id: Ulid,
        email: Type.String({ minLength: 1, maxLength: 320, description: 'The email address of the user to add' }),
      },
      { title: 'AddUserEmailRequest' },
    ),
    responses: {
      201: { description: 'User email was created', schema: SingleResponse(KIND, Attributes) },
      400: { description: 'Email is not valid' },
      404: { description: 'User was not found' },
      409: { description: 'Email already in use' },
    },
    async handler({ app }, { body }) {
      const user = await users.findById(app.sql, body.user_id);
      if (!user) throw notFound(`User ID ${body.user_id}`);
      const parsed = parseEmailAddress(body.email);
      if (!parsed.ok) throw new AdminError(400, `Email ${JSON.stringify(body.email)} is not valid: ${parsed.message}`);
      const row = await app.sql.begin(async (tx) => {
        if (await users.emailInUse(tx, parsed.value.key)) return undefined;
        const added = await users.addEmail(tx, { userId: user.id, email: parsed.value.address, verified: true });
        await enqueueProvisionUser(tx, user.id);
        return added;
      });
      if (!row) throw new AdminError(409, `User email ${JSON.stringify(body.email)} already in use`);
      return single(KIND, BASE, row.id, attributes(row), undefined, 201);
    },
  }),
  defineRoute({
    method: 'get',
    path: '/user-emails/{id}',
    operationId: 'getUserEmail',
    summary: 'Get a user email',
    tag: 'user-email',
    params: IdParams,
    responses: { 200: { description: 'User email was found', schema: SingleResponse(KIND, Attributes) }, 404: { description: 'User email was not found' } },
    async handler({ app }, { params }) {
      const row = await users.findEmailById(app.sql, params.id);
      if (!row) throw notFound(`User email ID ${params.id}`);
      return single(KIND, BASE, row.id, attributes(row));
    },
  }),
  defineRoute({
    method: 'delete',
    path: '/user-emails/{id}',
    operationId: 'deleteUserEmail',
    summary: 'Delete a user email',
    tag: 'user-email',
    params: IdParams,
    responses: { 204: { description: 'User email was found' }, 404: { description: 'User email was not found' } },
    async handler({ app }, { params }) {
      const deleted = await app.sql.begin(async (tx) => {
        const row = await users.deleteEmail(tx, params.id);
        if (row) await enqueueProvisionUser(tx, row.user_id);
        return row;
      });
      if (!deleted) throw notFound(`User email ID ${params.id}`);
      return { status: 204 };
    },
  }),
];
