// The filters every session listing shares (MAS's names), and reading them.
import { Type } from '@sinclair/typebox';
import type { SessionFilter } from '../../storage/admin-session-queries.js';
import type { Db } from '../../storage/db.js';
import * as users from '../../storage/users.js';
import { notFound } from '../errors.js';
import { DateTimeParam, ULID_PATTERN } from '../schemas.js';

export const SessionFilterQuery = {
  'filter[user]': Type.Optional(Type.String({ pattern: ULID_PATTERN, description: 'Retrieve the items for the given user' })),
  'filter[status]': Type.Optional(
    Type.Union([Type.Literal('active'), Type.Literal('finished')], { description: 'Retrieve the items with the given status (default: all)' }),
  ),
  'filter[created-before]': Type.Optional(DateTimeParam('Retrieve sessions created strictly before the given time')),
  'filter[created-after]': Type.Optional(DateTimeParam('Retrieve sessions created strictly after the given time')),
  'filter[last-active-before]': Type.Optional(DateTimeParam('Retrieve sessions last active strictly before the given time')),
  'filter[last-active-after]': Type.Optional(DateTimeParam('Retrieve sessions last active strictly after the given time')),
};

export interface SessionFilterParams {
  'filter[user]'?: string;
  'filter[status]'?: 'active' | 'finished';
  'filter[created-before]'?: string;
  'filter[created-after]'?: string;
  'filter[last-active-before]'?: string;
  'filter[last-active-after]'?: string;
}

const date = (value: string | undefined) => (value === undefined ? undefined : new Date(value));

/** The filter; a user that does not exist is a 404, as in MAS. */
export async function readSessionFilter(db: Db, query: SessionFilterParams): Promise<SessionFilter> {
  const user = query['filter[user]'];
  if (user !== undefined && !(await users.findById(db, user))) throw notFound(`User ID ${user}`);
  return {
    user,
    status: query['filter[status]'],
    createdBefore: date(query['filter[created-before]']),
    createdAfter: date(query['filter[created-after]']),
    lastActiveBefore: date(query['filter[last-active-before]']),
    lastActiveAfter: date(query['filter[last-active-after]']),
  };
}
