// What claims templates can use besides their data: nunjucks' own filters and tests (all pure once
// their input is inert data; those that build output from a number the template chooses are held to
// the limits, those that look up an attribute look up own data only), MAS's extra filters, and
// `range`. nunjucks' `cycler` and `joiner` are left out: claims templates have no use for them.
import { createRequire } from 'node:module';
import { TEMPLATE_LIMITS, TemplateLimitError, tooLong, tooMany } from './limits.js';
import { joinTexts, replaceText } from './methods.js';
import type { FilterScope, SandboxDefinitions, SandboxFilter } from './sandbox.js';
import { Bytes, type TemplateFunction, type TemplateValues } from './values.js';

const require = createRequire(import.meta.url);
const builtinFilters = require('nunjucks/src/filters.js') as Record<string, SandboxFilter>;
const builtinTests = require('nunjucks/src/tests.js') as Record<string, (...args: unknown[]) => unknown>;

function atMost(value: unknown, limit: number, what: string): unknown {
  if ((typeof value === 'number' || typeof value === 'string') && Number(value) > limit) {
    throw new TemplateLimitError(`${what} larger than ${limit} exceeds the limit`);
  }
  return value;
}

function toBytes(value: unknown, values: TemplateValues): Buffer {
  if (value instanceof Bytes) return value.buffer;
  return Buffer.from(values.text(value), 'utf8');
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;
const BASE64URL = /^[A-Za-z0-9_-]*={0,2}$/;

/** Own data at a dotted attribute path, as a template's lookups would find it. */
function attribute(item: unknown, path: unknown, values: TemplateValues): unknown {
  if (typeof path !== 'string' && typeof path !== 'number') return undefined;
  return String(path)
    .split('.')
    .reduce<unknown>((value, part) => values.lookup(value, part), item);
}

function list(value: unknown): unknown[] {
  if (!Array.isArray(value)) throw new TypeError('expected a list');
  return value;
}

const MAS_FILTERS: Record<string, SandboxFilter> = {
  b64decode(this: FilterScope, value: unknown) {
    const text = this.values.text(value).trim();
    // Node's decoder skips characters it does not know; refuse them instead, as MAS does.
    if ((!BASE64.test(text) && !BASE64URL.test(text)) || text.replace(/=+$/, '').length % 4 === 1) {
      throw new Error('b64decode: not a base64 string');
    }
    return new Bytes(Buffer.from(text, BASE64.test(text) ? 'base64' : 'base64url'));
  },
  b64encode(this: FilterScope, value: unknown) {
    return toBytes(value, this.values).toString('base64');
  },
  /** Tag-length-value bytes (one-byte tags and lengths) to a map from tag to value bytes. */
  tlvdecode(this: FilterScope, value: unknown) {
    const bytes = toBytes(value, this.values);
    const out: Record<number, Bytes> = {};
    let i = 0;
    while (i < bytes.length) {
      const tag = bytes[i];
      const length = bytes[i + 1];
      if (length === undefined || i + 2 + length > bytes.length) throw new Error('tlvdecode: invalid TLV encoding');
      out[tag] = new Bytes(bytes.subarray(i + 2, i + 2 + length));
      i += 2 + length;
    }
    return out;
  },
  string(this: FilterScope, value: unknown) {
    if (value === undefined || value === null) return '';
    if (value instanceof Bytes || typeof value !== 'object') return this.values.text(value);
    return JSON.stringify(value);
  },
  from_json(this: FilterScope, value: unknown) {
    try {
      return JSON.parse(this.values.text(value)) as unknown;
    } catch {
      throw new Error('from_json: not valid JSON');
    }
  },
  /** Jinja's `split`: on whitespace runs without a separator. */
  split(this: FilterScope, value: unknown, separator?: unknown, maxSplits?: unknown) {
    const text = this.values.text(value);
    const sep = separator === undefined || separator === null ? undefined : this.values.text(separator);
    const parts = sep === undefined ? text.trim().split(/\s+/).filter(Boolean) : text.split(sep);
    if (typeof maxSplits !== 'number' || maxSplits < 0 || parts.length <= maxSplits + 1) return parts;
    return [...parts.slice(0, maxSplits), parts.slice(maxSplits).join(sep ?? ' ')];
  },
};

/** striptags' regular expressions backtrack quadratically; claims it strips are short (names). */
const STRIPTAGS_INPUT = 4096;

const LIMITED_FILTERS: Record<string, SandboxFilter> = {
  // nunjucks trims with /^\s*|\s*$/g, quadratic in a claim's inner whitespace; String#trim strips the same set.
  trim(this: FilterScope, value: unknown) {
    return typeof value === 'string' ? value.trim() : builtinFilters.trim.call(this, value);
  },
  striptags(this: FilterScope, value: unknown, preserveLinebreaks?: unknown) {
    if (typeof value === 'string' && value.length > STRIPTAGS_INPUT) {
      throw new TemplateLimitError(`striptags of more than ${STRIPTAGS_INPUT} characters exceeds the limit`);
    }
    return builtinFilters.striptags.call(this, value, preserveLinebreaks);
  },
  center(this: FilterScope, value: unknown, width?: unknown) {
    return builtinFilters.center.call(this, value, atMost(width, TEMPLATE_LIMITS.stringLength, 'center width'));
  },
  indent(this: FilterScope, value: unknown, width?: unknown, first?: unknown) {
    atMost(width, TEMPLATE_LIMITS.stringLength, 'indent width');
    const lines = typeof value === 'string' ? value.split('\n').length : 1;
    if (typeof value === 'string' && value.length + lines * Number(width ?? 4) > TEMPLATE_LIMITS.stringLength) throw tooLong();
    return builtinFilters.indent.call(this, value, width, first);
  },
  batch(this: FilterScope, value: unknown, size?: unknown, fill?: unknown) {
    return builtinFilters.batch.call(this, value, atMost(size, TEMPLATE_LIMITS.items, 'batch size'), fill);
  },
  slice(this: FilterScope, value: unknown, slices?: unknown, fill?: unknown) {
    return builtinFilters.slice.call(this, value, atMost(slices, TEMPLATE_LIMITS.items, 'slice count'), fill);
  },
  replace(this: FilterScope, value: unknown, search?: unknown, replacement?: unknown, count?: unknown) {
    const text = typeof value === 'number' ? String(value) : value;
    if (typeof text !== 'string' || (typeof search !== 'string' && typeof search !== 'number')) return value;
    const max = typeof count === 'number' && count >= 0 ? count : Infinity;
    return replaceText(text, String(search), this.values.text(replacement ?? 'undefined'), search === '' ? Infinity : max);
  },
  join(this: FilterScope, value: unknown, separator?: unknown, attr?: unknown) {
    const items = attr ? list(value).map((item) => attribute(item, attr, this.values)) : list(value);
    return joinTexts(items, separator ? this.values.text(separator) : '', this.values);
  },
  sum(this: FilterScope, value: unknown, attr?: unknown, start: unknown = 0) {
    const items = attr ? list(value).map((item) => attribute(item, attr, this.values)) : list(value);
    return this.values.operate('+', start, items.reduce((total, item) => this.values.operate('+', total, item), 0));
  },
  selectattr(this: FilterScope, value: unknown, attr?: unknown) {
    return list(value).filter((item) => !!attribute(item, attr, this.values));
  },
  rejectattr(this: FilterScope, value: unknown, attr?: unknown) {
    return list(value).filter((item) => !attribute(item, attr, this.values));
  },
};

// nunjucks' filters take any value with a `length` for text or a list; a claims object with a
// `length` key (`{"length": 1e9}`) would have them loop or allocate that many times.
const TEXT_FILTERS = new Set([
  'capitalize', 'center', 'escape', 'e', 'forceescape', 'safe', 'indent', 'lower', 'upper', 'nl2br', 'striptags', 'title', 'trim', 'truncate',
  'urlize', 'wordcount',
]);
const LIST_FILTERS = new Set(['batch', 'slice', 'reverse', 'sort', 'select', 'reject', 'groupby', 'first', 'last', 'random']);

function textInput(name: string, filter: SandboxFilter): SandboxFilter {
  return function (this: FilterScope, value: unknown, ...args: unknown[]) {
    if (typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Bytes)) throw new TypeError(`${name} expects text`);
    if (typeof value === 'function') throw new TypeError(`${name} expects text`);
    const text = typeof value === 'string' || value === undefined || value === null || value === false ? value : this.values.text(value);
    return filter.call(this, text, ...args);
  };
}

function listInput(name: string, filter: SandboxFilter): SandboxFilter {
  return function (this: FilterScope, value: unknown, ...args: unknown[]) {
    if (!Array.isArray(value) && typeof value !== 'string') throw new TypeError(`${name} expects a list`);
    return filter.call(this, value, ...args);
  };
}

function filters(): Record<string, SandboxFilter> {
  const all = Object.create(null) as Record<string, SandboxFilter>;
  for (const name of Object.keys(builtinFilters)) {
    const filter = LIMITED_FILTERS[name] ?? builtinFilters[name];
    all[name] = TEXT_FILTERS.has(name) ? textInput(name, filter) : LIST_FILTERS.has(name) ? listInput(name, filter) : filter;
  }
  Object.assign(all, MAS_FILTERS);
  return Object.freeze(all);
}

/** nunjucks' `range`, refusing more numbers than the item limit. */
function range(start?: unknown, stop?: unknown, step?: unknown): number[] {
  let from = Number(start);
  let to = Number(stop);
  let by = Number(step ?? 1) || 1;
  if (stop === undefined) [from, to, by] = [0, from, 1];
  const count = Math.ceil((to - from) / by);
  if (Number.isNaN(count) || count <= 0) return [];
  if (count > TEMPLATE_LIMITS.items) throw tooMany();
  return Array.from({ length: count }, (_, i) => from + i * by);
}

export const CLAIMS_TEMPLATE_DEFINITIONS: SandboxDefinitions = Object.freeze({
  filters: filters(),
  tests: Object.freeze(Object.assign(Object.create(null) as object, builtinTests)),
  globals: Object.freeze(Object.assign(Object.create(null) as object, { range: (): TemplateFunction => range })),
});
