// Server-rendered pages: nunjucks over the operator's template folder (`templates.path`) first,
// then the built-in templates/ of this package, so an operator can override one page at a time.
import { fileURLToPath } from 'node:url';
import nunjucks from 'nunjucks';
import type { Config } from '../config/types.js';

export const BUILTIN_TEMPLATES = fileURLToPath(new URL('../../templates/', import.meta.url));

export interface Renderer {
  render(page: string, context?: Record<string, unknown>): string;
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
  };
  return {
    render(page, context = {}) {
      return env.render(`pages/${page}.njk`, { ...globals, ...context });
    },
  };
}
