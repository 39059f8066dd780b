// Applies a schema to parsed YAML: defaults, type checks, unknown keys, and the mappings inside
// lists. Convict validates the scalars and fills in defaults. It cannot see inside lists, and it
// mishandles mappings that are values rather than sections, so the walker below takes list and
// mapping entries out of its hands, checks each list element against its own schema (with its
// own convict instance), and puts the results back.
import { isDeepStrictEqual } from 'node:util';
import convict from 'convict';
import { isEntry, type AnyShape, type Entry, type SchemaDef } from './schema.js';
import type { Reporter } from './problems.js';
import { unsupportedKey } from './unsupported.js';
import { isMapping, type Mapping } from './mapping.js';

interface Detached {
  path: string[];
  value: unknown;
}

/** Returns the configured mapping with defaults applied; problems go to `report`. */
export function applySchema(def: SchemaDef, raw: unknown, report: Reporter): Mapping {
  const detached: Detached[] = [];
  const plain = walk(def, raw, report, [], detached);

  const config = convict<Mapping>(def as convict.Schema<Mapping>, { env: {}, args: [] });
  config.load(plain);
  try {
    config.validate({ allowed: 'warn', output: () => {} });
  } catch (error) {
    for (const line of String((error as Error).message).split('\n')) reportConvictLine(line, report);
  }

  const result = withoutUndefined(config.getProperties());
  for (const { path, value } of detached) setPath(result, path, value);
  return result;
}

/** Unset optional keys are left out rather than present with `undefined`. */
function withoutUndefined(mapping: Mapping): Mapping {
  const result: Mapping = {};
  for (const [key, value] of Object.entries(mapping)) {
    if (value !== undefined) result[key] = isMapping(value) ? withoutUndefined(value) : value;
  }
  return result;
}

/** Checks one mapping against a shape, then runs the shape's cross-field check if it was clean. */
export function applyShape(shape: AnyShape, raw: unknown, report: Reporter): Mapping {
  if (!isMapping(raw)) report.error('must be a mapping');
  const before = report.errorCount;
  const value = applySchema(shape.schema, isMapping(raw) ? raw : {}, report);
  if (isMapping(raw) && report.errorCount === before) shape.check?.(value, report);
  return value;
}

/** The values convict should see; list and optional-mapping entries are set aside in `detached`. */
function walk(def: SchemaDef, raw: unknown, report: Reporter, path: string[], detached: Detached[]): Mapping {
  const source = isMapping(raw) ? raw : {};
  const plain: Mapping = {};

  for (const key of Object.keys(source)) {
    if (!Object.hasOwn(def, key)) report.warn('unknown key, ignored', key);
  }

  for (const [key, node] of Object.entries(def)) {
    const present = Object.hasOwn(source, key) && source[key] !== undefined;
    const value = source[key];
    const at = report.at(key);
    if (present && isEntry(node) && refuse(node, value, at)) continue;

    if (!isEntry(node)) {
      if (present && !isMapping(value)) at.error('must be a mapping of keys to values');
      const nested = walk(node, present ? value : undefined, at, [...path, key], detached);
      if (present && isMapping(value)) plain[key] = nested;
      continue;
    }

    if (node.items) {
      detached.push({ path: [...path, key], value: applyList(node.items, present ? value : structuredClone(node.default), at) });
    } else if (node.shape) {
      if (!present) continue;
      detached.push({ path: [...path, key], value: applyShape(node.shape, value, at) });
    } else if (node.freeform) {
      if (present && !isMapping(value)) at.error('must be a mapping of keys to values');
      const mapping = present && isMapping(value) ? value : structuredClone(node.default);
      if (mapping !== undefined) detached.push({ path: [...path, key], value: mapping });
    } else if (present) {
      if (isMapping(value)) at.error('must be a single value or a list, not a mapping');
      else plain[key] = value;
    }
  }
  return plain;
}

/** Reports a key Mauth does not act on yet (unsupported.ts) set to a value that asks for it. */
function refuse(node: Entry, value: unknown, at: Reporter): boolean {
  const unsupported = unsupportedKey(at.key);
  if (!unsupported || value === null || isDeepStrictEqual(value, node.default)) return false;
  if (unsupported.accept?.some((accepted) => isDeepStrictEqual(value, accepted))) return false;
  at.error(`is not supported yet: ${unsupported.reason}`);
  return true;
}

function applyList(shape: AnyShape, value: unknown, report: Reporter): unknown[] {
  if (!Array.isArray(value)) {
    report.error('must be a list');
    return [];
  }
  return value.map((element, index) => applyShape(shape, element, report.at(index)));
}

function reportConvictLine(line: string, report: Reporter): void {
  if (line.trim() === '') return;
  const missing = /^configuration param '([^']+)' missing from config/.exec(line);
  if (missing) {
    report.error('is missing or has the wrong shape', missing[1]);
    return;
  }
  const match = /^([^\s:]+): (.*)$/.exec(line);
  if (match) report.error(match[2] as string, match[1]);
  else report.error(line);
}

function setPath(target: Mapping, path: string[], value: unknown): void {
  let at = target;
  for (const key of path.slice(0, -1)) {
    if (!isMapping(at[key])) at[key] = {};
    at = at[key] as Mapping;
  }
  at[path[path.length - 1] as string] = value;
}
