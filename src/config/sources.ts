// Where configuration comes from: YAML files, merged in order (later files win, mappings merge
// key by key, lists are replaced whole), then `MAUTH_SECTION__KEY` environment variables.
// A YAML null means "not set": the key falls back to its default, even if an earlier file set it.
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import YAML from 'yaml';
import { isEntry, type Entry, type SchemaDef } from './formats.js';
import { joinKey, type ProblemList, type Provenance } from './problems.js';

import { isMapping, type Mapping } from './mapping.js';

/**
 * The files to read: those given (`-c`, repeatable), else `MAUTH_CONFIG` (a colon-separated
 * list, like PATH), else MAS's `MAS_CONFIG` (so that service files written for MAS keep working),
 * else `config.yaml` in the working directory if there is one (as MAS does).
 */
export function configFiles(files: readonly string[] | undefined, env: NodeJS.ProcessEnv): string[] {
  if (files && files.length > 0) return [...files];
  const fromEnv = (env.MAUTH_CONFIG || env.MAS_CONFIG)?.split(':').filter((file) => file !== '');
  if (fromEnv && fromEnv.length > 0) return fromEnv;
  return existsSync('config.yaml') ? ['config.yaml'] : [];
}

/** Removes null values from mappings (recursively, lists included): null means "use the default". */
function withoutNulls(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutNulls);
  if (!isMapping(value)) return value;
  const result: Mapping = {};
  for (const [key, child] of Object.entries(value)) {
    if (child !== null) result[key] = withoutNulls(child);
  }
  return result;
}

/** Merges `source` into `target`, recording `origin` as the source of every key it sets. */
export function mergeInto(target: Mapping, source: Mapping, origin: string, provenance: Provenance, base = ''): void {
  for (const [key, value] of Object.entries(source)) {
    const path = joinKey(base, key);
    if (isMapping(value)) {
      if (!isMapping(target[key])) {
        target[key] = {};
        provenance.clear(path);
        provenance.set(path, origin);
      }
      mergeInto(target[key] as Mapping, value, origin, provenance, path);
      continue;
    }
    provenance.clear(path);
    if (value === null) {
      delete target[key];
    } else {
      target[key] = withoutNulls(value);
      provenance.set(path, origin);
    }
  }
}

async function readYaml(file: string, problems: ProblemList): Promise<Mapping | undefined> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    problems.error('', `cannot read the file: ${(error as Error).message}`, file);
    return undefined;
  }
  const document = YAML.parseDocument(text, { prettyErrors: true, uniqueKeys: true, merge: true });
  if (document.errors.length > 0) {
    for (const error of document.errors) problems.error('', `invalid YAML: ${error.message}`, file);
    return undefined;
  }
  for (const warning of document.warnings) problems.warn('', warning.message, file);
  const value: unknown = document.toJS({ maxAliasCount: 1000 });
  if (value === null || value === undefined) return {};
  if (!isMapping(value)) {
    problems.error('', 'must hold a mapping of sections (http:, database:, ...) at the top level', file);
    return undefined;
  }
  return value;
}

export async function readConfigFiles(files: readonly string[], provenance: Provenance, problems: ProblemList): Promise<Mapping> {
  const merged: Mapping = {};
  for (const file of files) {
    const value = await readYaml(file, problems);
    if (value) mergeInto(merged, value, file, provenance);
  }
  return merged;
}

const STRING_FORMATS = new Set(['mauth:string', 'mauth:url', 'mauth:ulid', 'mauth:enum']);

function entryAt(schema: SchemaDef, path: string[]): Entry | undefined {
  let node: SchemaDef | Entry = schema;
  for (const key of path) {
    if (isEntry(node) || !Object.hasOwn(node, key)) return undefined;
    node = node[key] as SchemaDef | Entry;
  }
  return isEntry(node) ? node : undefined;
}

/**
 * Applies `MAUTH_<SECTION>__<KEY>[__<KEY>...]=value` overrides, e.g. `MAUTH_HTTP__PUBLIC_BASE`
 * or `MAUTH_RATE_LIMITING__LOGIN__PER_IP__BURST=10`. String keys take the text as it is; other
 * values are read as YAML (`10`, `true`, `[a, b]`).
 */
export function applyEnvironment(target: Mapping, env: NodeJS.ProcessEnv, schema: SchemaDef, provenance: Provenance, problems: ProblemList): void {
  for (const [name, text] of Object.entries(env)) {
    const match = /^MAUTH_([A-Z0-9_]+)$/.exec(name);
    if (!match || text === undefined || !name.includes('__')) continue;
    const path = (match[1] as string).toLowerCase().split('__');
    const origin = `$${name}`;
    const entry = entryAt(schema, path);
    if (!entry) {
      problems.warn(path.join('.'), 'is not a configuration key; environment variable ignored', origin);
      continue;
    }
    let value: unknown = text;
    if (!STRING_FORMATS.has(String(entry.format))) {
      try {
        value = YAML.parse(text);
      } catch {
        value = text;
      }
    }
    let at = target;
    for (const key of path.slice(0, -1)) {
      if (!isMapping(at[key])) at[key] = {};
      at = at[key] as Mapping;
    }
    const last = path[path.length - 1] as string;
    mergeInto(at, { [last]: value }, origin, provenance, path.slice(0, -1).join('.'));
  }
}
