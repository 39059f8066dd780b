// The few pure methods a template may call on strings and lists (nunjucks let templates call any
// JavaScript method: `user.email.split("@")[0]` keeps working, `"".constructor` does not). Arguments
// are used as plain text and numbers; results that would exceed the limits are refused before they
// are built.
import { TEMPLATE_LIMITS, tooLong } from './limits.js';
import type { TemplateValues } from './values.js';

export type Method<T> = (self: T, args: unknown[], values: TemplateValues) => unknown;

function stringArgument(value: unknown): string | undefined {
  if (value === undefined || value === null) return undefined;
  return typeof value === 'object' || typeof value === 'function' ? '' : String(value);
}

function numberArgument(value: unknown): number | undefined {
  return typeof value === 'number' ? value : value === undefined || value === null ? undefined : Number(stringArgument(value));
}

/** Literal replacement (no `$&` patterns), refused before it is built when the result would be too long. */
export function replaceText(text: string, search: string, replacement: string, count = Infinity): string {
  const parts = search === '' ? ['', ...text.split(''), ''] : text.split(search);
  const used = Math.min(parts.length - 1, Math.max(count, 0));
  if (text.length + used * (replacement.length - search.length) > TEMPLATE_LIMITS.stringLength) throw tooLong();
  if (used === parts.length - 1) return parts.join(replacement);
  return parts.slice(0, used + 1).join(replacement) + search + parts.slice(used + 1).join(search);
}

// Pure string methods nunjucks let templates call (`user.email.split("@")[0]`), with plain arguments.
export const STRING_METHODS: Record<string, Method<string> | undefined> = Object.assign(Object.create(null) as object, {
  toLowerCase: (s: string) => s.toLowerCase(),
  toUpperCase: (s: string) => s.toUpperCase(),
  trim: (s: string) => s.trim(),
  trimStart: (s: string) => s.trimStart(),
  trimEnd: (s: string) => s.trimEnd(),
  startsWith: (s: string, [a, p]: unknown[]) => s.startsWith(stringArgument(a) ?? 'undefined', numberArgument(p)),
  endsWith: (s: string, [a, p]: unknown[]) => s.endsWith(stringArgument(a) ?? 'undefined', numberArgument(p)),
  includes: (s: string, [a, p]: unknown[]) => s.includes(stringArgument(a) ?? 'undefined', numberArgument(p)),
  indexOf: (s: string, [a, p]: unknown[]) => s.indexOf(stringArgument(a) ?? 'undefined', numberArgument(p)),
  lastIndexOf: (s: string, [a, p]: unknown[]) => s.lastIndexOf(stringArgument(a) ?? 'undefined', numberArgument(p)),
  slice: (s: string, [a, b]: unknown[]) => s.slice(numberArgument(a), numberArgument(b)),
  substring: (s: string, [a, b]: unknown[]) => s.substring(numberArgument(a) ?? 0, numberArgument(b)),
  charAt: (s: string, [a]: unknown[]) => s.charAt(numberArgument(a) ?? 0),
  split: (s: string, [separator, limit]: unknown[]) => {
    const sep = stringArgument(separator);
    return sep === undefined ? [s] : s.split(sep, numberArgument(limit));
  },
  replace: (s: string, [a, b]: unknown[]) => replaceText(s, stringArgument(a) ?? 'undefined', stringArgument(b) ?? 'undefined', 1),
  replaceAll: (s: string, [a, b]: unknown[]) => replaceText(s, stringArgument(a) ?? 'undefined', stringArgument(b) ?? 'undefined'),
});

export const ARRAY_METHODS: Record<string, Method<unknown[]> | undefined> = Object.assign(Object.create(null) as object, {
  join: (list: unknown[], [separator]: unknown[], values: TemplateValues) => joinTexts(list, stringArgument(separator) ?? ',', values),
  includes: (list: unknown[], [item]: unknown[]) => list.includes(item),
  indexOf: (list: unknown[], [item]: unknown[]) => list.indexOf(item),
  slice: (list: unknown[], [a, b]: unknown[]) => list.slice(numberArgument(a), numberArgument(b)),
});

/** `list.join(separator)` over how the items print, refused before it is built when too long. */
export function joinTexts(list: unknown[], separator: string, values: TemplateValues): string {
  const texts = list.map((item) => values.text(item));
  const length = texts.reduce((sum, text) => sum + text.length, 0) + Math.max(texts.length - 1, 0) * separator.length;
  if (length > TEMPLATE_LIMITS.stringLength) throw tooLong();
  return texts.join(separator);
}
