// Finds English left on a page (or in a mail) that should be in another language: any text of
// the English catalogue, and common English words the catalogue might not hold (text typed into
// a template instead of taken from it). Text that is also in the other language's catalogue
// (`Code`, `Token`, `Website`) within a translated message is not English left over (a message
// still holding its English text is no proof); brand names, user data and other names
// the caller knows are passed in `allow` and removed first.
import { readCatalogues, DEFAULT_LANGUAGE } from '../../src/config/translations.js';
import { literalSegments } from '../../src/domain/messages.js';

/** Catalogue entries whose text is a name rather than a sentence (the language menu lists each language in itself). */
const NAMES = new Set(['language.name']);

/** Words German writes as English does: a message of only this word may keep the English text. */
const SHARED_WORDS = new Set(['App', 'Code', 'Token', 'Website']);

/** Words of running English text that German pages never contain. */
const ENGLISH_WORDS = ['the', 'The', 'your', 'Your', 'you', 'You', 'this', 'This', 'that', 'and', 'with', 'are', 'not', 'Not', 'for', 'can', 'has', 'have', 'been', 'from', 'here', 'again', 'please', 'Please', 'sign', 'Sign', 'account', 'password', 'Password', 'username', 'Username'];

const LETTER = /\p{L}/gu;
const escapeRegExp = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const bounded = (s: string) => new RegExp(`(?<![\\p{L}\\p{N}])${escapeRegExp(s)}(?![\\p{L}\\p{N}])`, 'u');

function pieces(key: string, source: string[]): string[] {
  const text = key.endsWith('_html') ? source.map((s) => s.replace(/<[^>]*>/g, '\n')) : source;
  return text
    .flatMap((s) => s.split('\n'))
    .map((s) => s.replace(/\s+/g, ' ').trim())
    .filter((s) => (s.match(LETTER) ?? []).length >= 2);
}

function catalogueText(lang: string, overridePath?: string): { key: string; text: string }[] {
  const { catalogues } = readCatalogues(overridePath);
  const catalogue = catalogues.catalogue(lang);
  if (!catalogue) throw new Error(`no catalogue for ${lang}`);
  return [...catalogue].flatMap(([key, parts]) => pieces(key, literalSegments(parts)).map((text) => ({ key, text })));
}

/** The visible text of an HTML page: text nodes, the title, and the attributes people read. */
export function visibleText(html: string): string {
  const attributes = [...html.matchAll(/\s(?:aria-label|alt|title|placeholder)="([^"]*)"/g)].map((m) => m[1]);
  const text = html
    .replace(/<(script|style)\b[\s\S]*?<\/\1>/gi, ' ')
    .replace(/<[^>]*>/g, '\n')
    .replace(/&nbsp;/g, ' ')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&amp;/g, '&');
  return [text, ...attributes].join('\n');
}

export interface EnglishFinder {
  /** What of `text` is English: `key: "text"` for catalogue text, `word: "the"` for stray words. */
  find(text: string, allow?: string[]): string[];
}

/** A finder for pages meant to be in `lang` (with the catalogues of `overridePath` over the shipped ones). */
export function englishFinder(lang: string, overridePath?: string): EnglishFinder {
  const englishEntries = catalogueText(DEFAULT_LANGUAGE);
  const englishOf = new Set(englishEntries.map((e) => `${e.key}\n${e.text}`));
  // A message whose text is still the English one (copied, not translated) proves nothing about
  // the language: only the translated ones count as its own words.
  const own = catalogueText(lang, overridePath)
    .filter((e) => SHARED_WORDS.has(e.text) || !englishOf.has(`${e.key}\n${e.text}`))
    .map((e) => e.text)
    .join('\n');
  const inOwnLanguage = (s: string) => bounded(s).test(own);
  const english = englishEntries.filter((e) => !NAMES.has(e.key) && !inOwnLanguage(e.text));
  const words = ENGLISH_WORDS.filter((w) => !inOwnLanguage(w));
  return {
    find(raw, allow = []) {
      let text = raw.replace(/\s+/g, ' ');
      for (const name of allow.filter(Boolean).sort((a, b) => b.length - a.length)) text = text.split(name).join(' ');
      const found = english.filter((e) => bounded(e.text).test(text)).map((e) => `${e.key}: ${JSON.stringify(e.text)}`);
      found.push(...words.filter((w) => bounded(w).test(text)).map((w) => `word: ${JSON.stringify(w)}`));
      return [...new Set(found)];
    },
  };
}
