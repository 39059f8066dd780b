// Server-rendered pages: nunjucks over the operator's template folder (`templates.path`) first,
// then the built-in templates/ of this package, so an operator can override one page at a time.
import { fileURLToPath } from 'node:url';
import type { Response } from 'express';
import nunjucks from 'nunjucks';
import type { Config } from '../config/types.js';

export const BUILTIN_TEMPLATES = fileURLToPath(new URL('../../templates/', import.meta.url));

export interface Renderer {
  render(page: string, context?: Record<string, unknown>): string;
  /** Sends a page: HTML, never cached. */
  send(res: Response, status: number, page: string, context?: Record<string, unknown>): void;
}

export function createRenderer(config: Config): Renderer {
  const paths = [config.templates.path, BUILTIN_TEMPLATES].filter((p): p is string => !!p);
  const env = new nunjucks.Environment(new nunjucks.FileSystemLoader(paths, { noCache: false }), {
    autoescape: true,
    throwOnUndefined: false,
  });
  const globals = {
    branding: { service_name: config.branding.service_name ?? 'Mauth', ...config.branding },
    server_name: config.matrix.homeserver,
    // `email.transport: blackhole` drops every message: pages must not promise codes or links.
    mail_disabled: config.email.transport === 'blackhole',
  };
  const render = (page: string, context: Record<string, unknown> = {}) => env.render(`pages/${page}.njk`, { ...globals, ...context });
  return {
    render,
    send(res, status, page, context = {}) {
      res.status(status).type('html').set('Cache-Control', 'no-store').send(render(page, context));
    },
  };
}
