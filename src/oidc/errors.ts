// oidc-provider's error answers: its HTML error page (shown when an error cannot go back to the
// client, e.g. an unregistered redirect_uri) rendered with our templates, and a database that is
// down or stalled reported as 503 `temporarily_unavailable` with Retry-After instead of a 500.
import type Provider from 'oidc-provider';
import type { KoaContextWithOIDC } from 'oidc-provider';
import type { AppContext } from '../context.js';
import { databaseUnavailable, RETRY_AFTER_SECONDS } from '../storage/db-errors.js';
import { msg } from '../web/i18n.js';
import { createRenderer } from '../web/render.js';

const UNAVAILABLE = 'The service is temporarily unavailable; try again shortly.';

function markUnavailable(ctx: KoaContextWithOIDC): void {
  ctx.status = 503;
  ctx.set('Retry-After', String(RETRY_AFTER_SECONDS));
  ctx.set('Cache-Control', 'no-store');
}

export function renderProviderError(app: AppContext) {
  const renderer = createRenderer(app.config);
  return async (ctx: KoaContextWithOIDC, out: { error: string; error_description?: string }, error: Error) => {
    ctx.type = 'html';
    ctx.set('Cache-Control', 'no-store');
    if (databaseUnavailable(error)) {
      markUnavailable(ctx);
      ctx.body = renderer.render('error', { title: msg('errors.unavailable_title'), message: msg('errors.unavailable'), code: 'temporarily_unavailable' }, ctx.req);
      return;
    }
    if ((error as { status?: number }).status === undefined || (error as { status?: number }).status! >= 500) {
      app.log.error({ err: error }, 'authorization error');
    }
    // oidc-provider's description is for the app's developer (and in English): shown as a detail.
    ctx.body = renderer.render(
      'error',
      { title: msg('errors.request_cannot_continue'), message: msg('errors.request_cannot_continue_detail'), detail: out.error_description, code: out.error },
      ctx.req,
    );
  };
}

/**
 * oidc-provider turns any unexpected error into 500 `server_error` and then emits `server_error`
 * before the answer is written: a database that cannot serve now becomes 503
 * `temporarily_unavailable` (RFC 6749 §4.1.2.1) with Retry-After, which clients retry.
 */
export function answerUnavailable(provider: Provider, app: AppContext): void {
  provider.on('server_error', (ctx: KoaContextWithOIDC, error: unknown) => {
    const reason = databaseUnavailable(error);
    if (!reason) return;
    app.log.warn({ reason, path: ctx.path }, 'database unavailable: answered 503');
    markUnavailable(ctx);
    // The HTML page was rendered by renderProviderError already; JSON answers are replaced.
    if (typeof ctx.body !== 'string') ctx.body = { error: 'temporarily_unavailable', error_description: UNAVAILABLE };
  });
}

/**
 * A token-endpoint step that runs after oidc-provider has answered (the refresh's commit, the
 * session's start) failed: 503 with Retry-After when the database cannot serve now, else 500;
 * `what` says in the log which step it was.
 */
export function answerTokenStepFailure(app: AppContext, ctx: KoaContextWithOIDC, err: unknown, what: string): void {
  const reason = databaseUnavailable(err);
  ctx.set('Cache-Control', 'no-store');
  if (reason) {
    app.log.warn({ reason, path: ctx.path }, 'database unavailable: answered 503');
    ctx.status = 503;
    ctx.set('Retry-After', String(RETRY_AFTER_SECONDS));
    ctx.body = { error: 'temporarily_unavailable', error_description: 'The service is temporarily unavailable; try again shortly.' };
  } else {
    app.log.error({ err, path: ctx.path }, what);
    ctx.status = 500;
    ctx.body = { error: 'server_error', error_description: 'An unexpected error occurred.' };
  }
}
