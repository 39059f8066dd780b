// `upstream-oauth-providers` (list, get) and `upstream-oauth-links` (list, add, get, delete): the
// providers come from the configuration; links tie a provider's subject to a local account.
import { Type } from '@sinclair/typebox';
import * as queries from '../../storage/admin-queries.js';
import * as listings from '../../storage/admin-client-queries.js';
import * as upstream from '../../storage/upstream.js';
import * as users from '../../storage/users.js';
import { AdminError, notFound } from '../errors.js';
import { paginated, readPagination, single } from '../pagination.js';
import { API_PREFIX } from '../paths.js';
import { defineRoute } from '../route.js';
import { DateTime, FilterText, IdParams, Nullable, PaginatedResponse, PaginationQuery, SingleResponse, Ulid, UlidParam, iso } from '../schemas.js';

const PROVIDER = 'upstream-oauth-provider';
const PROVIDERS = `${API_PREFIX}/upstream-oauth-providers`;
const LINK = 'upstream-oauth-link';
const LINKS = `${API_PREFIX}/upstream-oauth-links`;

const ProviderAttributes = Type.Object(
  {
    issuer: Nullable(Type.String()),
    human_name: Nullable(Type.String()),
    brand_name: Nullable(Type.String()),
    created_at: DateTime,
    disabled_at: Nullable(DateTime),
    registration_token_required: Type.Boolean({ description: 'Whether registering through this provider requires a registration token' }),
  },
  { title: 'UpstreamOAuthProvider' },
);

const providerAttributes = (row: upstream.ProviderRow) => ({
  issuer: row.issuer,
  human_name: row.human_name,
  brand_name: row.brand_name,
  created_at: iso(row.created_at),
  disabled_at: iso(row.disabled_at),
  registration_token_required: row.config.registration_token_required === true,
});

const LinkAttributes = Type.Object(
  {
    created_at: DateTime,
    provider_id: Ulid,
    subject: Type.String({ description: 'The subject of the upstream account' }),
    user_id: Nullable(Ulid),
    human_account_name: Nullable(Type.String()),
  },
  { title: 'UpstreamOAuthLink' },
);

const linkAttributes = (row: upstream.LinkRow) => ({
  created_at: iso(row.created_at),
  provider_id: row.provider_id,
  subject: row.subject,
  user_id: row.user_id,
  human_account_name: row.human_account_name,
});

export const upstreamRoutes = [
  defineRoute({
    method: 'get',
    path: '/upstream-oauth-providers',
    operationId: 'listUpstreamOAuthProviders',
    summary: 'List upstream OAuth 2.0 providers',
    tag: 'upstream-oauth-provider',
    query: Type.Object({ ...PaginationQuery, 'filter[enabled]': Type.Optional(Type.Boolean({ description: 'Retrieve providers that are (or are not) enabled' })) }),
    responses: { 200: { description: 'Paginated response of upstream OAuth 2.0 providers', schema: PaginatedResponse(PROVIDER, ProviderAttributes) } },
    async handler({ app, search }, { query }) {
      const filter = { enabled: query['filter[enabled]'] };
      return paginated({
        kind: PROVIDER,
        basePath: PROVIDERS,
        search,
        pagination: readPagination(query),
        list: (page) => listings.listProviders(app.sql, filter, page),
        count: () => queries.countRows(app.sql, listings.providersListing(app.sql, filter)),
        attributes: providerAttributes,
      });
    },
  }),
  defineRoute({
    method: 'get',
    path: '/upstream-oauth-providers/{id}',
    operationId: 'getUpstreamOAuthProvider',
    summary: 'Get upstream OAuth provider',
    tag: 'upstream-oauth-provider',
    params: IdParams,
    responses: { 200: { description: 'The upstream OAuth provider', schema: SingleResponse(PROVIDER, ProviderAttributes) }, 404: { description: 'Provider not found' } },
    async handler({ app }, { params }) {
      const row = await upstream.findProvider(app.sql, params.id);
      if (!row) throw notFound(`Upstream OAuth 2.0 provider ID ${params.id}`);
      return single(PROVIDER, PROVIDERS, row.id, providerAttributes(row));
    },
  }),
  defineRoute({
    method: 'get',
    path: '/upstream-oauth-links',
    operationId: 'listUpstreamOAuthLinks',
    summary: 'List upstream OAuth 2.0 links',
    tag: 'upstream-oauth-link',
    query: Type.Object({
      ...PaginationQuery,
      'filter[user]': Type.Optional(UlidParam('Retrieve the items for the given user')),
      'filter[provider]': Type.Optional(UlidParam('Retrieve the items for the given provider')),
      'filter[subject]': Type.Optional(FilterText('Retrieve the items with the given subject', 1024)),
      'filter[human-account-name]': Type.Optional(FilterText('Retrieve the items with a human account name containing the given text (case-insensitive)')),
    }),
    responses: { 200: { description: 'Paginated response of upstream OAuth 2.0 links', schema: PaginatedResponse(LINK, LinkAttributes) }, 404: { description: 'User or provider was not found' } },
    async handler({ app, search }, { query }) {
      const user = query['filter[user]'];
      const provider = query['filter[provider]'];
      if (user !== undefined && !(await users.findById(app.sql, user))) throw notFound(`User ID ${user}`);
      if (provider !== undefined && !(await upstream.findProvider(app.sql, provider))) throw notFound(`Upstream OAuth 2.0 provider ID ${provider}`);
      const filter: listings.LinkFilter = { user, provider, subject: query['filter[subject]'], humanAccountName: query['filter[human-account-name]'] };
      return paginated({
        kind: LINK,
        basePath: LINKS,
        search,
        pagination: readPagination(query),
        list: (page) => listings.listLinks(app.sql, filter, page),
        count: () => queries.countRows(app.sql, listings.linksListing(app.sql, filter)),
        attributes: linkAttributes,
      });
    },
  }),
  defineRoute({
    method: 'post',
    path: '/upstream-oauth-links',
    operationId: 'addUpstreamOAuthLink',
    summary: 'Add an upstream OAuth 2.0 link',
    tag: 'upstream-oauth-link',
    body: Type.Object(
      {
        user_id: Ulid,
        provider_id: Ulid,
        subject: Type.String({ minLength: 1, maxLength: 1024, description: 'The subject (sub) claim of the user on the provider' }),
        human_account_name: Type.Optional(Type.String({ maxLength: 256, description: 'A human readable account name' })),
      },
      { title: 'AddUpstreamOauthLinkRequest' },
    ),
    responses: {
      201: { description: 'A new upstream OAuth 2.0 link was created', schema: SingleResponse(LINK, LinkAttributes) },
      404: { description: 'User or provider was not found' },
      409: { description: 'The subject from the provider is already linked to a user' },
    },
    async handler({ app }, { body }) {
      if (!(await users.findById(app.sql, body.user_id))) throw notFound(`User ID ${body.user_id}`);
      if (!(await upstream.findProvider(app.sql, body.provider_id))) throw notFound(`Upstream OAuth 2.0 provider ID ${body.provider_id}`);
      const link = await upstream.createLink(app.sql, { providerId: body.provider_id, subject: body.subject, userId: body.user_id, humanAccountName: body.human_account_name ?? null });
      if (!link) throw new AdminError(409, `Upstream OAuth 2.0 provider ID ${body.provider_id} with subject ${JSON.stringify(body.subject)} is already linked to a user`);
      return single(LINK, LINKS, link.id, linkAttributes(link), undefined, 201);
    },
  }),
  defineRoute({
    method: 'get',
    path: '/upstream-oauth-links/{id}',
    operationId: 'getUpstreamOAuthLink',
    summary: 'Get an upstream OAuth 2.0 link',
    tag: 'upstream-oauth-link',
    params: IdParams,
    responses: { 200: { description: 'Upstream OAuth 2.0 link was found', schema: SingleResponse(LINK, LinkAttributes) }, 404: { description: 'Upstream OAuth 2.0 link was not found' } },
    async handler({ app }, { params }) {
      const row = await queries.findOne<upstream.LinkRow>(app.sql, listings.linksListing(app.sql, {}), params.id);
      if (!row) throw notFound(`Upstream OAuth 2.0 Link ID ${params.id}`);
      return single(LINK, LINKS, row.id, linkAttributes(row));
    },
  }),
  defineRoute({
    method: 'delete',
    path: '/upstream-oauth-links/{id}',
    operationId: 'deleteUpstreamOAuthLink',
    summary: 'Delete an upstream OAuth 2.0 link',
    tag: 'upstream-oauth-link',
    params: IdParams,
    responses: { 204: { description: 'Upstream OAuth 2.0 link was deleted' }, 404: { description: 'Upstream OAuth 2.0 link was not found' } },
    async handler({ app }, { params }) {
      if (!(await upstream.deleteLink(app.sql, params.id))) throw notFound(`Upstream OAuth 2.0 Link ID ${params.id}`);
      return { status: 204 };
    },
  }),
];
