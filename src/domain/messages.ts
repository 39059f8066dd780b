// What pages and e-mails say, per language: message catalogues and their syntax.
//
// A catalogue is a JSON file per language (templates/translations/<tag>.json), nested objects
// whose leaves are messages; `@name` entries are notes for translators and are skipped. A
// message is text with ICU-style arguments: `{name}` inserts a parameter, and
// `{count, plural, =0 {none} one {# minute} other {# minutes}}` picks a branch by the language's
// plural rules (CLDR categories from Intl.PluralRules), `#` being the number. Braces are always
// syntax. A key ending in `_html` holds an HTML fragment (its parameters are escaped); any other
// message is plain text, escaped as a whole where it lands in HTML.
//
// A page hands the translator a key, or a Message (a key with its parameters) that a view or an
// error built before the language was known.

export type MessageParam = string | number | Message;

export interface Message {
  readonly key: string;
  readonly params?: Readonly<Record<string, MessageParam>>;
}

export function msg(key: string, params?: Record<string, MessageParam>): Message {
  return params ? { key, params } : { key };
}

export function isMessage(value: unknown): value is Message {
  return typeof value === 'object' && value !== null && typeof (value as Message).key === 'string';
}

// --- syntax ---------------------------------------------------------------------------------

type Part = string | { arg: string } | { arg: string; plural: Map<string, Part[]> } | { number: true };

export class MessageSyntaxError extends Error {}

const ARG_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const PLURAL_SELECTOR = /^(=\d+|zero|one|two|few|many|other)$/;

/** Parses a message; throws MessageSyntaxError with what is wrong. */
export function parseMessage(source: string): Part[] {
  let i = 0;
  const fail = (what: string): never => {
    throw new MessageSyntaxError(`${what} at character ${i + 1} of ${JSON.stringify(source)}`);
  };
  const parseParts = (inPlural: boolean): Part[] => {
    const parts: Part[] = [];
    let text = '';
    const flush = () => {
      if (text) parts.push(text);
      text = '';
    };
    while (i < source.length) {
      const c = source[i]!;
      if (c === '}') {
        if (!inPlural) fail('unmatched }');
        break;
      }
      if (c === '#' && inPlural) {
        flush();
        parts.push({ number: true });
        i += 1;
        continue;
      }
      if (c !== '{') {
        text += c;
        i += 1;
        continue;
      }
      flush();
      i += 1;
      const close = source.indexOf('}', i);
      const comma = source.indexOf(',', i);
      if (close < 0) fail('unclosed {');
      if (comma < 0 || comma > close) {
        const name = source.slice(i, close).trim();
        if (!ARG_NAME.test(name)) fail(`bad argument name ${JSON.stringify(name)}`);
        parts.push({ arg: name });
        i = close + 1;
        continue;
      }
      const name = source.slice(i, comma).trim();
      if (!ARG_NAME.test(name)) fail(`bad argument name ${JSON.stringify(name)}`);
      i = comma + 1;
      const kindEnd = source.indexOf(',', i);
      if (kindEnd < 0) fail('a plural needs its branches');
      const kind = source.slice(i, kindEnd).trim();
      if (kind !== 'plural') fail(`unknown argument type ${JSON.stringify(kind)} (only plural is supported)`);
      i = kindEnd + 1;
      const branches = new Map<string, Part[]>();
      for (;;) {
        while (i < source.length && /\s/.test(source[i]!)) i += 1;
        if (source[i] === '}') {
          i += 1;
          break;
        }
        const open = source.indexOf('{', i);
        if (open < 0) fail('unclosed plural');
        const selector = source.slice(i, open).trim();
        if (!PLURAL_SELECTOR.test(selector)) fail(`bad plural selector ${JSON.stringify(selector)}`);
        if (branches.has(selector)) fail(`plural selector ${selector} twice`);
        i = open + 1;
        branches.set(selector, parseParts(true));
        if (source[i] !== '}') fail('unclosed plural branch');
        i += 1;
      }
      if (!branches.has('other')) fail(`the plural of ${name} needs an "other" branch`);
      parts.push({ arg: name, plural: branches });
    }
    flush();
    return parts;
  };
  const parts = parseParts(false);
  if (i < source.length) fail('unmatched }');
  return parts;
}

/** The parameters a message uses. */
export function placeholders(parts: readonly Part[], into = new Set<string>()): Set<string> {
  for (const part of parts) {
    if (typeof part === 'string' || 'number' in part) continue;
    into.add(part.arg);
    if ('plural' in part) for (const branch of part.plural.values()) placeholders(branch, into);
  }
  return into;
}

/** The literal text of a message with its arguments left out (what a page must not show in another language). */
export function literalSegments(parts: readonly Part[], into: string[] = []): string[] {
  for (const part of parts) {
    if (typeof part === 'string') into.push(part);
    else if ('plural' in part) for (const branch of part.plural.values()) literalSegments(branch, into);
  }
  return into;
}

// --- catalogues -----------------------------------------------------------------------------

/** One language's messages, parsed: dotted key → parts. */
export type CompiledCatalogue = ReadonlyMap<string, Part[]>;

/**
 * Flattens a catalogue file's JSON into dotted keys, skipping `@` notes. Problems (a value that
 * is neither text nor an object, a message that does not parse) are returned, not thrown, so that
 * a file can be reported whole.
 */
export function compileCatalogue(json: unknown): { catalogue: Map<string, Part[]>; problems: string[] } {
  const catalogue = new Map<string, Part[]>();
  const problems: string[] = [];
  const walk = (value: unknown, prefix: string) => {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      problems.push(`${prefix || 'the file'}: must be an object of messages`);
      return;
    }
    for (const [name, child] of Object.entries(value)) {
      if (name.startsWith('@')) continue;
      const key = prefix ? `${prefix}.${name}` : name;
      if (typeof child === 'string') {
        try {
          catalogue.set(key, parseMessage(child));
        } catch (err) {
          if (!(err instanceof MessageSyntaxError)) throw err;
          problems.push(`${key}: ${err.message}`);
        }
      } else walk(child, key);
    }
  };
  walk(json, '');
  return { catalogue, problems };
}

// --- formatting -----------------------------------------------------------------------------

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

export const isHtmlKey = (key: string) => key.endsWith('_html');

/**
 * Formats messages in one language, falling back along `chain` (e.g. pt-BR, pt, en) key by key.
 * A key found nowhere is shown as it is, which also lets a plain string through unchanged.
 */
export class Translator {
  private readonly plurals: Intl.PluralRules;
  private readonly numbers: Intl.NumberFormat;
  private readonly dates: Intl.DateTimeFormat;

  constructor(
    readonly lang: string,
    private readonly chain: readonly CompiledCatalogue[],
  ) {
    this.plurals = new Intl.PluralRules(lang);
    this.numbers = new Intl.NumberFormat(lang, { useGrouping: false });
    // Pages do not know the reader's time zone: times are shown in UTC, and say so.
    this.dates = new Intl.DateTimeFormat(lang, { year: 'numeric', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', timeZone: 'UTC', timeZoneName: 'short' });
  }

  /** A moment as this language writes it (UTC, to the minute): `Nov 30, 2026, 02:01 PM UTC`, `30. Nov. 2026, 14:01 UTC`. */
  dateTime(moment: Date | string): string {
    const date = typeof moment === 'string' ? new Date(moment) : moment;
    return Number.isNaN(date.getTime()) ? String(moment) : this.dates.format(date);
  }

  has(key: string): boolean {
    return this.chain.some((c) => c.has(key));
  }

  /** Plain text (e-mail bodies, subjects, JSON error descriptions). */
  text(message: string | Message, params?: Record<string, MessageParam>): string {
    return this.format(message, params, false);
  }

  /** HTML: an `_html` message with its parameters escaped, any other message escaped whole. */
  html(message: string | Message, params?: Record<string, MessageParam>): string {
    return this.format(message, params, true);
  }

  private format(message: string | Message, extra: Record<string, MessageParam> | undefined, html: boolean): string {
    const key = typeof message === 'string' ? message : message.key;
    const params = { ...(typeof message === 'string' ? {} : message.params), ...extra };
    const parts = this.chain.find((c) => c.has(key))?.get(key);
    if (!parts) return html ? escapeHtml(key) : key;
    const markup = html && isHtmlKey(key);
    const text = this.join(parts, params, markup, undefined);
    return html && !markup ? escapeHtml(text) : text;
  }

  private join(parts: readonly Part[], params: Record<string, MessageParam>, markup: boolean, count: number | undefined): string {
    let out = '';
    for (const part of parts) {
      if (typeof part === 'string') out += part;
      else if ('number' in part) out += count === undefined ? '#' : this.numbers.format(count);
      else if ('plural' in part) {
        const n = Number(typeof params[part.arg] === 'object' ? Number.NaN : params[part.arg]);
        const branch = part.plural.get(`=${n}`) ?? part.plural.get(Number.isFinite(n) ? this.plurals.select(n) : 'other') ?? part.plural.get('other')!;
        out += this.join(branch, params, markup, n);
      } else out += this.param(params[part.arg], markup);
    }
    return out;
  }

  private param(value: MessageParam | undefined, markup: boolean): string {
    if (value === undefined) return '';
    if (isMessage(value)) return markup ? this.html(value) : this.text(value);
    const text = typeof value === 'number' ? this.numbers.format(value) : value;
    return markup ? escapeHtml(text) : text;
  }
}

// --- choosing a language --------------------------------------------------------------------

/** A language tag as catalogue files are named: `de`, `pt-BR`, `zh-Hans`. */
export const LANGUAGE_TAG = /^[a-z]{2,3}(?:-[A-Za-z0-9]{2,8})*$/;

/** The ranges of an Accept-Language header, most wanted first (q=0 left out). */
export function acceptedLanguages(header: string | undefined): string[] {
  if (!header) return [];
  const ranges: { tag: string; q: number; index: number }[] = [];
  header.split(',').forEach((item, index) => {
    const [tag, ...attrs] = item.trim().split(';');
    let q = 1;
    for (const attr of attrs) {
      const [name, value] = attr.trim().split('=');
      if (name?.trim() === 'q') q = Number(value);
    }
    if (tag && Number.isFinite(q) && q > 0 && q <= 1) ranges.push({ tag: tag.trim(), q, index });
  });
  return ranges.sort((a, b) => b.q - a.q || a.index - b.index).map((r) => r.tag);
}

/**
 * The available language that best serves `wanted` (a tag or range): the same tag, else its
 * primary language (de-AT → de), else a regional variant of it (pt → pt-BR). Case-insensitive.
 */
export function matchLanguage(wanted: string, available: readonly string[]): string | undefined {
  const lower = wanted.toLowerCase();
  if (lower === '*' || !lower) return undefined;
  const primary = lower.split('-')[0]!;
  return (
    available.find((tag) => tag.toLowerCase() === lower) ??
    available.find((tag) => tag.toLowerCase() === primary) ??
    available.find((tag) => tag.toLowerCase().split('-')[0] === primary)
  );
}

/** The language an Accept-Language header asks for among `available`; undefined when none fits. */
export function negotiateLanguage(header: string | undefined, available: readonly string[]): string | undefined {
  for (const range of acceptedLanguages(header)) {
    const found = matchLanguage(range, available);
    if (found) return found;
  }
  return undefined;
}
