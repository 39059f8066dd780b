// MAS's cursor pagination: `page[first]=N` (the default, 10) or `page[last]=N`, bounded by
// `page[after]` / `page[before]` (the ids, which are the cursors), and `count=true|false|only`.
// The answer links to itself, the first and last pages and, when there is one, the next and
// previous pages.
import type { Page, PageRequest } from '../storage/admin-queries.js';
import { AdminError } from './errors.js';
import type { Reply } from './route.js';
import { iso } from './schemas.js';

const DEFAULT_PAGE_SIZE = 10;

export type IncludeCount = 'true' | 'false' | 'only';

export interface PaginationParams {
  'page[before]'?: string;
  'page[after]'?: string;
  'page[first]'?: number;
  'page[last]'?: number;
  count?: IncludeCount;
}

export interface Pagination {
  page: PageRequest;
  include: IncludeCount;
}

export function readPagination(query: PaginationParams): Pagination {
  const first = query['page[first]'];
  const last = query['page[last]'];
  if (first !== undefined && last !== undefined) throw new AdminError(400, 'Cannot specify both `page[first]` and `page[last]` parameters');
  return {
    page: {
      direction: last !== undefined ? 'backward' : 'forward',
      count: last ?? first ?? DEFAULT_PAGE_SIZE,
      before: query['page[before]'],
      after: query['page[after]'],
    },
    include: query.count ?? 'true',
  };
}

/** A resource as the API shows it: `{type, id, attributes, links: {self}}`. */
export function resource(kind: string, basePath: string, id: string, attributes: Record<string, unknown>, cursor?: string) {
  return {
    type: kind,
    id,
    attributes,
    links: { self: `${basePath}/${id}` },
    ...(cursor !== undefined ? { meta: { page: { cursor } } } : {}),
  };
}

/** One resource; `self` names the route that answered when it is not the resource's own path. */
export function single(kind: string, basePath: string, id: string, attributes: Record<string, unknown>, self?: string, status = 200): Reply {
  return { status, body: { data: resource(kind, basePath, id, attributes), links: { self: self ?? `${basePath}/${id}` } } };
}

/**
 * The filters of the request, to carry into the page links: every query parameter except the
 * pagination ones, in the order given.
 */
function filtersOf(search: URLSearchParams): string {
  const kept: string[] = [];
  for (const [name, value] of search) {
    if (name.startsWith('page[') || name === 'count') continue;
    kept.push(`${name}=${encodeURIComponent(value)}`);
  }
  return kept.join('&');
}

function link(basePath: string, filters: string, include: IncludeCount, parts: { before?: string; after?: string; first?: number; last?: number }): string {
  const query = [filters];
  if (include !== 'true') query.push(`count=${include}`);
  if (parts.before !== undefined) query.push(`page[before]=${parts.before}`);
  if (parts.after !== undefined) query.push(`page[after]=${parts.after}`);
  if (parts.first !== undefined) query.push(`page[first]=${parts.first}`);
  if (parts.last !== undefined) query.push(`page[last]=${parts.last}`);
  return `${basePath}?${query.filter(Boolean).join('&')}`;
}

/** The answer for a list route. */
export async function paginated<T extends { id: string }>(options: {
  kind: string;
  basePath: string;
  search: URLSearchParams;
  pagination: Pagination;
  list: (page: PageRequest) => Promise<Page<T>>;
  count: () => Promise<number>;
  attributes: (row: T) => Record<string, unknown>;
}): Promise<Reply> {
  const { kind, basePath, pagination } = options;
  const { page, include } = pagination;
  const filters = filtersOf(options.search);
  const size = (direction: PageRequest['direction']) => (direction === 'forward' ? { first: page.count } : { last: page.count });
  if (include === 'only') {
    return { status: 200, body: { meta: { count: await options.count() }, links: { self: link(basePath, filters, include, {}) } } };
  }
  const result = await options.list(page);
  const links: Record<string, string> = {
    self: link(basePath, filters, include, { before: page.before, after: page.after, ...size(page.direction) }),
    first: link(basePath, filters, include, { first: page.count }),
    last: link(basePath, filters, include, { last: page.count }),
  };
  const [firstItem, lastItem] = [result.items[0], result.items.at(-1)];
  // The neighbouring pages of the same size, whichever way this one was read.
  if (result.hasNextPage && lastItem) links.next = link(basePath, filters, include, { after: lastItem.id, first: page.count });
  if (result.hasPreviousPage && firstItem) links.prev = link(basePath, filters, include, { before: firstItem.id, last: page.count });
  const body: Record<string, unknown> = {
    data: result.items.map((row) => resource(kind, basePath, row.id, options.attributes(row), row.id)),
    links,
  };
  if (include === 'true') body.meta = { count: await options.count() };
  return { status: 200, body };
}

export { iso };
