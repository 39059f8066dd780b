// Server-rendered pages: nunjucks over the operator's template folder (`templates.path`) first,
// then the built-in templates/ of this package, so an operator can override one page at a time.
// Every page is rendered in the language of its request (web/i18n.ts): templates say
// `{{ t('login.heading') }}` or `{{ t(error) }}` for a Message a view built, `{{ datetime(iso) }}`
// for a moment, and get `lang` and the other `languages` to offer.
import type { IncomingMessage } from 'node:http';
import { fileURLToPath } from 'node:url';
import type { Request, Response } from 'express';
import nunjucks from 'nunjucks';
import type { Config } from '../config/types.js';
import type { Message, MessageParam, Translator } from '../domain/messages.js';
import { accentColors } from './branding.js';
import { createI18n, type I18n } from './i18n.js';

export const BUILTIN_TEMPLATES = fileURLToPath(new URL('../../templates/', import.meta.url));

export interface Renderer {
  /** A page in the language of `request` (English without one). */
  render(page: string, context?: Record<string, unknown>, request?: IncomingMessage): string;
  /** Sends a page in the language of `res`'s request: HTML, never cached. */
  send(res: Response, status: number, page: string, context?: Record<string, unknown>): void;
  i18n: I18n;
}

/** The `t` of a template: HTML, so an `_html` message keeps its markup and anything else is escaped. */
export function templateTranslator(translator: Translator) {
  return (message: string | Message | undefined, params?: Record<string, MessageParam>) =>
    message === undefined || message === null ? '' : new nunjucks.runtime.SafeString(translator.html(message, params));
}

/** The other languages, each a link to this page in it (GET pages only: a form's answer cannot be reloaded). */
function languageLinks(i18n: I18n, lang: string, request: IncomingMessage | undefined) {
  if (!request || request.method !== 'GET' || i18n.catalogues.languages.length < 2) return [];
  const url = new URL((request as Partial<Request>).originalUrl ?? request.url ?? '/', 'http://page.invalid');
  return i18n.catalogues.languages
    .filter((tag) => tag !== lang)
    .map((tag) => {
      url.searchParams.set('lang', tag);
      return { tag, name: i18n.translator(tag).text('language.name'), href: `${url.pathname}${url.search}` };
    });
}

export function createRenderer(config: Config): Renderer {
  const paths = [config.templates.path, BUILTIN_TEMPLATES].filter((p): p is string => !!p);
  const env = new nunjucks.Environment(new nunjucks.FileSystemLoader(paths, { noCache: false }), {
    autoescape: true,
    throwOnUndefined: false,
  });
  const i18n = createI18n(config);
  const globals = {
    branding: { service_name: config.branding.service_name ?? 'Mauth', ...config.branding },
    // /assets/branding.css, when `branding.accent_color` sets the colours.
    branding_stylesheet: accentColors(config.branding) !== undefined,
    server_name: config.matrix.homeserver,
    // `email.transport: blackhole` drops every message: pages must not promise codes or links.
    mail_disabled: config.email.transport === 'blackhole',
  };
  const render = (page: string, context: Record<string, unknown> = {}, request?: IncomingMessage) => {
    const lang = request ? i18n.languageOf(request) : 'en';
    const translator = i18n.translator(lang);
    return env.render(`pages/${page}.njk`, {
      ...globals,
      lang,
      t: templateTranslator(translator),
      // `{{ datetime(iso) }}`: a moment in the page's language, for `<time datetime="{{ iso }}">`.
      datetime: (moment: Date | string | undefined | null) => (moment ? translator.dateTime(moment) : ''),
      languages: languageLinks(i18n, lang, request),
      ...context,
    });
  };
  return {
    render,
    send(res, status, page, context = {}) {
      res.status(status).type('html').set('Cache-Control', 'no-store').send(render(page, context, res.req));
    },
    i18n,
  };
}
