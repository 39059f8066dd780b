// A copy of a configuration fit to print: every entry the schemas mark `sensitive` becomes
// "<redacted>", and a database URI keeps everything but its password.
import { isMapping } from './mapping.js';
import { isEntry, REDACTED, type Entry, type SchemaDef } from './formats.js';
import { ROOT_SCHEMA } from './sections.js';
import type { Config } from './types.js';

function redactEntry(entry: Entry, value: unknown): unknown {
  if (value === undefined) return value;
  if (entry.redact) return typeof value === 'string' ? (entry.redact as (value: string) => string)(value) : REDACTED;
  if (entry.sensitive) return REDACTED;
  const shape = entry.items ?? entry.shape;
  if (!shape) return value;
  if (entry.items && Array.isArray(value)) return value.map((element) => redactSection(shape.schema, element));
  return redactSection(shape.schema, value);
}

function redactSection(schema: SchemaDef, value: unknown): unknown {
  if (!isMapping(value)) return value;
  const result: Record<string, unknown> = { ...value };
  for (const [key, node] of Object.entries(schema)) {
    if (!Object.hasOwn(result, key)) continue;
    result[key] = isEntry(node) ? redactEntry(node, result[key]) : redactSection(node, result[key]);
  }
  return result;
}

export function redactConfig(config: Config): unknown {
  return redactSection(ROOT_SCHEMA, structuredClone(config));
}
