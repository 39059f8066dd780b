// The JSON Schemas (TypeBox) shared by the admin API's routes: they validate what comes in and,
// unchanged, make the OpenAPI document. The envelope is MAS's JSON:API-like one:
//   one resource   {data: {type, id, attributes, links: {self}}, links: {self}}
//   a page         {meta: {count}, data: [{…, meta: {page: {cursor}}}], links: {self, first, last, next?, prev?}}
//   errors         {errors: [{title}]}
import { FormatRegistry, Type, type TSchema } from '@sinclair/typebox';

const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;

/**
 * An RFC 3339 time that PostgreSQL can take: its offset applied, it must fall in the years 1 to
 * 9999 (UTC). `0000-01-01T00:00:00Z` or `9999-12-31T23:59:59-23:59` are well-formed but leave
 * that range once sent as UTC, and PostgreSQL would refuse them with an error, not an answer.
 */
export function isStorableDateTime(value: string): boolean {
  if (!RFC3339.test(value)) return false;
  const time = Date.parse(value);
  if (Number.isNaN(time)) return false;
  const year = new Date(time).getUTCFullYear();
  return year >= 1 && year <= 9999;
}

if (!FormatRegistry.Has('date-time')) FormatRegistry.Set('date-time', isStorableDateTime);

export const ULID_PATTERN = '^[0123456789ABCDEFGHJKMNPQRSTVWXYZ]{26}$';

export const Ulid = Type.String({
  title: 'ULID',
  description: 'A ULID as per https://github.com/ulid/spec',
  pattern: ULID_PATTERN,
  examples: ['01ARZ3NDEKTSV4RRFFQ69G5FAV', '01J41912SC8VGAQDD50F6APK91'],
});

export const DateTime = Type.String({ format: 'date-time', maxLength: 64, examples: ['2026-01-01T00:00:00Z'] });

export const DateTimeParam = (description: string) => Type.String({ format: 'date-time', maxLength: 64, description });

export const UlidParam = (description: string) => Type.String({ pattern: ULID_PATTERN, description });

export const Nullable = <T extends TSchema>(schema: T) => Type.Union([schema, Type.Null()]);

/** A string query filter: bounded, so that no megabyte of text reaches the database. */
export const FilterText = (description: string, maxLength = 255) => Type.String({ description, minLength: 1, maxLength });

export const QueryBoolean = (description: string) => Type.Boolean({ description });

export const ErrorResponse = Type.Object(
  { errors: Type.Array(Type.Object({ title: Type.String({ description: 'A human-readable title for the error' }) }), { description: 'The list of errors' }) },
  { title: 'ErrorResponse', description: 'A top-level response with a list of errors' },
);

const SelfLinks = Type.Object({ self: Type.String({ description: 'The canonical link to the current resource' }) });

function resourceSchema(kind: string, attributes: TSchema) {
  return Type.Object({
    type: Type.Literal(kind, { description: 'The type of the resource' }),
    id: Ulid,
    attributes,
    links: SelfLinks,
    meta: Type.Optional(Type.Object({ page: Type.Optional(Type.Object({ cursor: Type.String({ description: 'The cursor of this resource in the paginated result' }) })) })),
  });
}

export function SingleResponse(kind: string, attributes: TSchema) {
  return Type.Object({ data: resourceSchema(kind, attributes), links: SelfLinks }, { title: `SingleResponse_for_${kind}` });
}

export function PaginatedResponse(kind: string, attributes: TSchema) {
  return Type.Object(
    {
      meta: Type.Optional(Type.Object({ count: Type.Optional(Type.Integer({ minimum: 0, description: 'The total number of results' })) })),
      data: Type.Optional(Type.Array(resourceSchema(kind, attributes))),
      links: Type.Object({
        self: Type.String(),
        first: Type.Optional(Type.String()),
        last: Type.Optional(Type.String()),
        next: Type.Optional(Type.String({ description: 'Only present if there is a next page' })),
        prev: Type.Optional(Type.String({ description: 'Only present if there is a previous page' })),
      }),
    },
    { title: `PaginatedResponse_for_${kind}` },
  );
}

export const IdParams = Type.Object({ id: Ulid });

export const PaginationQuery = {
  'page[before]': Type.Optional(Type.String({ pattern: ULID_PATTERN, description: 'Retrieve the items before the given ID' })),
  'page[after]': Type.Optional(Type.String({ pattern: ULID_PATTERN, description: 'Retrieve the items after the given ID' })),
  'page[first]': Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, description: 'Retrieve the first N items' })),
  'page[last]': Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, description: 'Retrieve the last N items' })),
  count: Type.Optional(
    Type.Union([Type.Literal('true'), Type.Literal('false'), Type.Literal('only')], {
      description: 'Include the total number of items (`true`, the default), not (`false`), or only it (`only`)',
    }),
  ),
};

/** Dates as the API writes them. */
export function iso(date: Date): string;
export function iso(date: Date | null): string | null;
export function iso(date: Date | null): string | null {
  return date ? date.toISOString() : null;
}
