// oidc-provider's HTML error page (shown when an error cannot go back to the client, e.g. an
// unregistered redirect_uri), rendered with our templates.
import type { KoaContextWithOIDC } from 'oidc-provider';
import type { AppContext } from '../context.js';
import { createRenderer } from '../web/render.js';

export function renderProviderError(app: AppContext) {
  const renderer = createRenderer(app.config);
  return async (ctx: KoaContextWithOIDC, out: { error: string; error_description?: string }, error: Error) => {
    if ((error as { status?: number }).status === undefined || (error as { status?: number }).status! >= 500) {
      app.log.error({ err: error }, 'authorization error');
    }
    ctx.type = 'html';
    ctx.set('Cache-Control', 'no-store');
    ctx.body = renderer.render('error', {
      title: 'This request cannot continue',
      message: out.error_description ?? out.error,
      code: out.error,
    });
  };
}
