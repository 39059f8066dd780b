// The language of a browser request: `?lang=` (remembered in the `mauth.lang` cookie), else that
// cookie, else Accept-Language, else English; only languages with a catalogue are chosen
// (config/translations.ts). Pages take their translator from here (web/render.ts), and so does
// whatever records work on the request's behalf, such as the language of a mail job.
import type { IncomingMessage } from 'node:http';
import type { RequestHandler } from 'express';
import type { Config } from '../config/types.js';
import { DEFAULT_LANGUAGE, loadCatalogues, type Catalogues } from '../config/translations.js';
import { matchLanguage, msg as message, negotiateLanguage, type Message, type MessageParam, type Translator } from '../domain/messages.js';

export { isMessage, type Message, type MessageParam, type Translator } from '../domain/messages.js';

export const LANGUAGE_COOKIE = 'mauth.lang';
const LANGUAGE_COOKIE_MAX_AGE_MS = 365 * 24 * 3600 * 1000;

export interface I18n {
  catalogues: Catalogues;
  /** The language chosen for a request (an available tag). */
  languageOf(req: IncomingMessage): string;
  translator(lang: string): Translator;
}

function queryLanguage(req: IncomingMessage): string | undefined {
  const url = req.url ?? '/';
  const q = url.indexOf('?');
  return q < 0 ? undefined : (new URLSearchParams(url.slice(q + 1)).get('lang') ?? undefined);
}

function cookieLanguage(req: IncomingMessage): string | undefined {
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === LANGUAGE_COOKIE) {
      // The browser sends back whatever it holds: a mangled value is no language, not an error.
      try {
        return decodeURIComponent(part.slice(eq + 1).trim());
      } catch {
        return undefined;
      }
    }
  }
  return undefined;
}

export function createI18n(config: Pick<Config, 'templates'>): I18n {
  const catalogues = loadCatalogues(config.templates.translations_path);
  const pick = (value: string | undefined) => (value ? matchLanguage(value, catalogues.languages) : undefined);
  return {
    catalogues,
    languageOf(req) {
      return (
        pick(queryLanguage(req)) ??
        pick(cookieLanguage(req)) ??
        negotiateLanguage(req.headers['accept-language'], catalogues.languages) ??
        DEFAULT_LANGUAGE
      );
    },
    translator: (lang) => catalogues.translator(lang),
  };
}

/** English from the built-in catalogue: the text of errors answered as JSON, and of logs. */
export function englishText(message: string | Message): string {
  return typeof message === 'string' ? message : loadCatalogues().translator(DEFAULT_LANGUAGE).text(message);
}

/**
 * A Message for a page to translate. It prints as its English text, so that an operator's template
 * override written before the catalogues (`{{ error }}` rather than `{{ t(error) }}`) still reads.
 */
export function msg(key: string, params?: Record<string, MessageParam>): Message {
  const built = message(key, params);
  return Object.defineProperty(built, 'toString', { value: () => englishText(built), enumerable: false });
}

/** A `?lang=` naming an available language is remembered for the next pages (one year). */
export function rememberLanguage(i18n: I18n, config: Pick<Config, 'http'>): RequestHandler {
  const secure = new URL(config.http.public_base).protocol === 'https:';
  return (req, res, next) => {
    const wanted = queryLanguage(req);
    const lang = wanted ? matchLanguage(wanted, i18n.catalogues.languages) : undefined;
    if (lang && cookieLanguage(req) !== lang) {
      res.cookie(LANGUAGE_COOKIE, lang, { httpOnly: true, sameSite: 'lax', secure, path: '/', maxAge: LANGUAGE_COOKIE_MAX_AGE_MS });
    }
    next();
  };
}
