// The types of the section schemas. Every entry builder in formats.ts returns an `Entry<T>` whose
// `T` is the type of the loaded value, so `Infer<typeof schema>` is the type of a loaded section
// and the configuration's type cannot drift from the schemas that produce it.
import type convict from 'convict';
import type { Mapping } from './mapping.js';
import type { Reporter } from './problems.js';

declare const VALUE: unique symbol;

/** What a schema entry holds at run time. */
export interface EntryBase extends convict.SchemaObj {
  doc: string;
  /** A list whose elements are mappings checked against `items` (convict cannot look inside lists). */
  items?: AnyShape;
  /** An optional mapping checked against `shape`; absent unless configured. */
  shape?: AnyShape;
  /** A mapping passed through as written. */
  freeform?: boolean;
  /** How `config dump` hides the secret parts of a value (instead of hiding all of a `sensitive` one). */
  redact?: (value: string) => string;
  /** Set by `required()` and `derived()`: no default, yet present in every loaded configuration. */
  ensured?: 'required' | 'derived';
}

/**
 * A schema entry convict validates (a value with a default), possibly marked for our own walker;
 * `T` is the type of its loaded value.
 */
export interface Entry<T = unknown> extends EntryBase {
  /** Type only, never set: what the loaded value is (a function type keeps `T` covariant and exact). */
  readonly [VALUE]?: () => T;
}

/** A section: nested entries. */
export interface SchemaDef {
  [key: string]: SchemaDef | Entry;
}

/** The schema of a mapping that sits in a list or an optional key, with its cross-field checks. */
export interface Shape<S extends SchemaDef = SchemaDef> {
  schema: S;
  /** Checks across keys of one element; `report` is positioned at the element. May normalise it. */
  check?(value: Infer<S>, report: Reporter): void;
}

/**
 * Any shape, as the walker sees it. Not `Shape<SchemaDef>`: TypeScript measures `Shape` as
 * invariant in `S` (through `Infer`), so only this structural form accepts every `Shape<S>`
 * (method parameters are compared both ways). The walker calls `check` only with a value it
 * validated against `schema` without errors, so the check sees the type its schema gives (but for
 * `required()` and `derived()` keys, which it is the check's job to ensure).
 */
export interface AnyShape {
  schema: SchemaDef;
  check?(value: Mapping, report: Reporter): void;
}

export function isEntry(node: SchemaDef | Entry): node is Entry {
  return 'default' in node;
}

/** The loaded value of one schema node: an entry's value type, or a nested section's mapping. */
export type ValueOf<N> = N extends Entry<infer T> ? T : N extends SchemaDef ? Infer<N> : never;

/** Keys whose value may be absent; `applySchema` leaves unset keys out rather than `undefined`. */
type OptionalKeys<S> = { [K in keyof S]-?: undefined extends ValueOf<S[K]> ? K : never }[keyof S];

type Flatten<T> = { [K in keyof T]: T[K] } & {};

/**
 * The type of a mapping loaded with schema `S`: keys whose entries may be unset are optional, the
 * others always present (defaults, `required()` and `derived()` entries). A schema that is only
 * known as a `SchemaDef` gives a plain mapping.
 */
export type Infer<S extends SchemaDef> = string extends keyof S
  ? Mapping
  : Flatten<{ [K in Exclude<keyof S, OptionalKeys<S>>]: ValueOf<S[K]> } & { [K in OptionalKeys<S>]?: ValueOf<S[K]> }>;

/** A shape whose `check` sees the element with the types its schema gives. */
export function shape<S extends SchemaDef>(definition: Shape<S>): Shape<S> {
  return definition;
}

/**
 * An entry without a default whose absence the enclosing check (a shape's or a section's)
 * reports as an error, so a loaded configuration always has it. The walker does not enforce it:
 * the check reports the absence together with its other findings. test/config/types.test.ts
 * holds the checks to these marks (and `derived()` ones to filling their key in).
 */
export function required<T>(entry: Entry<T | undefined>): Entry<T> {
  const base: EntryBase = entry;
  return { ...base, ensured: 'required' };
}

/** An entry the enclosing check fills in when the file leaves it out (a default computed from other keys). */
export function derived<T>(entry: Entry<T | undefined>): Entry<T> {
  const base: EntryBase = entry;
  return { ...base, ensured: 'derived' };
}
