// The building blocks of the section schemas: convict formats with operator-friendly messages,
// and helpers that declare one schema entry each.
//
// The formats are registered with convict under `mauth:` names rather than passed as functions:
// convict coerces string values of function-formatted entries by the type of their default (so
// `enabled: "no"` would become `true`), but leaves values of named formats alone. Parameters such
// as `min` or `values` live on the schema entry, which convict hands to the format.
import { isIP } from 'node:net';
import convict from 'convict';
import { isMapping } from './mapping.js';
import type { Entry, Infer, SchemaDef, Shape } from './schema.js';

export { isEntry, type Entry, type Infer, type SchemaDef, type Shape } from './schema.js';

interface Params {
  min?: number;
  max?: number;
  /** For numbers: must be strictly greater than `min`. */
  exclusiveMin?: boolean;
  values?: readonly string[];
  protocols?: readonly string[];
  nonEmpty?: boolean;
  pattern?: RegExp;
  patternMessage?: string;
  item?: 'url' | 'ip-network' | 'string';
}

function fail(message: string): never {
  throw new Error(message);
}

function describeRange(min?: number, max?: number): string {
  if (min !== undefined && max !== undefined) return ` from ${min} to ${max}`;
  if (min !== undefined) return ` of at least ${min}`;
  if (max !== undefined) return ` of at most ${max}`;
  return '';
}

export function checkUrl(value: unknown, protocols?: readonly string[]): string | undefined {
  if (typeof value !== 'string') return 'must be a URL';
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return 'must be an absolute URL';
  }
  if (protocols && !protocols.includes(url.protocol.slice(0, -1))) {
    return `must be a URL starting with ${protocols.map((protocol) => `${protocol}://`).join(' or ')}`;
  }
  return undefined;
}

/** An IP address or CIDR range (`10.0.0.0/8`, `fd00::/8`, `::1`). */
export function isIpNetwork(value: string): boolean {
  const [address, prefix, ...rest] = value.split('/');
  const family = isIP(address ?? '');
  if (family === 0 || rest.length > 0) return false;
  if (prefix === undefined) return true;
  if (!/^\d{1,3}$/.test(prefix)) return false;
  return Number(prefix) <= (family === 4 ? 32 : 128);
}

/** A ULID: 26 Crockford base32 characters, the first at most 7 (128 bits). */
export function isUlid(value: string): boolean {
  return /^[0-7][0-9A-HJKMNP-TV-Z]{25}$/i.test(value);
}

const formats: Record<string, (value: unknown, params: Params) => void> = {
  'mauth:string'(value, { nonEmpty, pattern, patternMessage }) {
    if (typeof value !== 'string') fail('must be a string');
    if (nonEmpty && value.trim() === '') fail('must not be empty');
    if (pattern && !pattern.test(value)) fail(patternMessage ?? `must match ${pattern}`);
  },
  'mauth:boolean'(value) {
    if (typeof value !== 'boolean') fail('must be true or false');
  },
  'mauth:integer'(value, { min, max }) {
    const ok = Number.isInteger(value) && (min === undefined || (value as number) >= min) && (max === undefined || (value as number) <= max);
    if (!ok) fail(`must be an integer${describeRange(min, max)}`);
  },
  'mauth:number'(value, { min, max, exclusiveMin }) {
    const n = value as number;
    const ok =
      typeof value === 'number' &&
      Number.isFinite(n) &&
      (min === undefined || (exclusiveMin ? n > min : n >= min)) &&
      (max === undefined || n <= max);
    if (!ok) {
      const lower = min === undefined ? '' : exclusiveMin ? ` greater than ${min}` : ` of at least ${min}`;
      const upper = max === undefined ? '' : `${lower ? ' and' : ''} at most ${max}`;
      fail(`must be a number${lower}${upper}`);
    }
  },
  'mauth:enum'(value, { values = [] }) {
    if (typeof value !== 'string' || !values.includes(value)) fail(`must be one of ${values.join(', ')}`);
  },
  'mauth:url'(value, { protocols }) {
    const problem = checkUrl(value, protocols);
    if (problem) fail(problem);
  },
  'mauth:ulid'(value) {
    if (typeof value !== 'string' || !isUlid(value)) fail('must be a ULID (26 characters of Crockford base32, e.g. 01HFVBY12TMNTYTBV8W921M5FA)');
  },
  'mauth:list'(value, { item = 'string' }) {
    if (!Array.isArray(value)) fail('must be a list');
    value.forEach((element, index) => {
      if (typeof element !== 'string') fail(`item ${index} must be a string`);
      if (item === 'url' && checkUrl(element)) fail(`item ${index} (${JSON.stringify(element)}) must be an absolute URL`);
      if (item === 'ip-network' && !isIpNetwork(element)) {
        fail(`item ${index} (${JSON.stringify(element)}) must be an IP address or CIDR range`);
      }
    });
  },
  'mauth:mapping'(value) {
    if (!isMapping(value)) fail('must be a mapping');
  },
  // Lists of mappings are checked element by element by apply-schema; convict sees only the result.
  'mauth:mapping-list'(value) {
    if (!Array.isArray(value)) fail('must be a list');
  },
};

for (const [name, check] of Object.entries(formats)) {
  convict.addFormat({ name, validate: (value: unknown, schema: convict.SchemaObj) => check(value, schema as Params) });
}

/** What `config dump` shows instead of a secret. */
export const REDACTED = '<redacted>';

// Entry builders. Entries with an `undefined` default are absent unless configured, and their
// value type includes `undefined` (`Maybe`); `required()` and `derived()` in schema.ts take it away.

type Maybe<D, T> = undefined extends D ? T | undefined : T;
type StringParams = Pick<Params, 'nonEmpty' | 'pattern' | 'patternMessage'> & { sensitive?: boolean };

export function string<D extends string | undefined>(doc: string, defaultValue: D, params: StringParams = {}): Entry<Maybe<D, string>> {
  return { doc, default: defaultValue, format: 'mauth:string', ...params };
}

export function optionalString(doc: string, params: StringParams = {}): Entry<string | undefined> {
  return string(doc, undefined, params);
}

export function secret(doc: string): Entry<string | undefined> {
  return string(doc, undefined, { sensitive: true });
}

export function boolean<D extends boolean | undefined>(doc: string, defaultValue: D): Entry<Maybe<D, boolean>> {
  return { doc, default: defaultValue, format: 'mauth:boolean' };
}

export function integer<D extends number | undefined>(doc: string, defaultValue: D, range: { min?: number; max?: number } = {}): Entry<Maybe<D, number>> {
  return { doc, default: defaultValue, format: 'mauth:integer', ...range };
}

export function number<D extends number | undefined>(
  doc: string,
  defaultValue: D,
  range: { min?: number; max?: number; exclusiveMin?: boolean } = {},
): Entry<Maybe<D, number>> {
  return { doc, default: defaultValue, format: 'mauth:number', ...range };
}

/** One of `values` (give them as a literal or `as const` tuple: the value type is their union). */
export function oneOf<const T extends string, D extends T | undefined>(doc: string, values: readonly T[], defaultValue: D): Entry<Maybe<D, T>> {
  return { doc, default: defaultValue, format: 'mauth:enum', values };
}

export function url<D extends string | undefined>(doc: string, defaultValue: D, protocols?: readonly string[]): Entry<Maybe<D, string>> {
  return { doc, default: defaultValue, format: 'mauth:url', protocols };
}

export function ulid(doc: string): Entry<string | undefined> {
  return { doc, default: undefined, format: 'mauth:ulid' };
}

export function stringList<D extends string[] | undefined>(doc: string, defaultValue: D, item: Params['item'] = 'string'): Entry<Maybe<D, string[]>> {
  return { doc, default: defaultValue, format: 'mauth:list', item };
}

/**
 * A free-form mapping passed through as written (policy data, JWKS, extra parameters). Its values
 * are `unknown` unless the enclosing check verifies them and says so with `V`.
 */
export function mapping<V = unknown>(doc: string, defaultValue: Record<string, V>): Entry<Record<string, V>>;
export function mapping<V = unknown>(doc: string, defaultValue: undefined): Entry<Record<string, V> | undefined>;
export function mapping(doc: string, defaultValue: Record<string, unknown> | undefined): Entry {
  return { doc, default: defaultValue, format: 'mauth:mapping', freeform: true };
}

/** A list of mappings, each checked against `shape`. */
export function listOf<S extends SchemaDef>(doc: string, shape: Shape<S>, defaultValue: unknown[] = []): Entry<Infer<S>[]> {
  return { doc, default: defaultValue, format: 'mauth:mapping-list', items: shape };
}

/** An optional mapping checked against `shape`. */
export function optionalMapping<S extends SchemaDef>(doc: string, shape: Shape<S>): Entry<Infer<S> | undefined> {
  return { doc, default: undefined, format: 'mauth:mapping', shape };
}
