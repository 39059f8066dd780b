// The verified-e-mail step of upstream registration. When the provider's address is not
// imported as verified and `account.password_registration_email_required` is set, the account
// is not created until the browser proves the address with a mailed code.
//
// `emailVerificationStep` mails a code and shows the code page; once the code is right the
// address is recorded on the upstream session and the browser GETs the link step again, where
// registration finishes with the answers the user already gave.
import express, { type Request, type Response, type Router } from 'express';
import { resendCode, startEmailAuthentication, verifyCode } from '../../accounts/email-verification.js';
import { RateLimited } from '../../accounts/rate-limit.js';
import type { AppContext } from '../../context.js';
import * as registrations from '../../storage/registrations.js';
import * as upstream from '../../storage/upstream.js';
import { csrfToken } from '../../web/browser.js';
import type { Renderer } from '../../web/render.js';
import { csrfForm } from '../../web/forms.js';
import { msg } from '../../web/i18n.js';

export interface EmailVerificationRequest {
  /** The upstream authorization session the registration belongs to. */
  upstreamSessionId: string;
  /** The address to prove (as the provider gave it). */
  email: string;
  /** GET this once the code was right: registration then completes. */
  continueUrl: string;
  /** Where the sign-in goes once the account exists (e.g. `/interaction/{uid}`). */
  next: string;
}

export interface EmailVerificationDeps {
  app: AppContext;
  renderer: Renderer;
}

export async function emailVerificationStep(
  deps: EmailVerificationDeps,
  req: Request,
  res: Response,
  request: EmailVerificationRequest,
): Promise<void> {
  try {
    const auth = await startEmailAuthentication(deps.app, { email: request.email, ip: req.ip, lang: deps.renderer.i18n.languageOf(req) });
    res.redirect(303, `/upstream/verify-email/${auth.id}?session=${encodeURIComponent(request.upstreamSessionId)}`);
  } catch (err) {
    if (!(err instanceof RateLimited)) throw err;
    res.set('Retry-After', String(Math.ceil(err.retryAfterMs / 1000)));
    deps.renderer.send(res, 429, 'error', {
      title: msg('errors.too_many_emails_title'),
      message: msg('errors.too_many_codes'),
      code: 'rate_limited',
    });
  }
}

/**
 * The code page of an upstream registration (under /upstream/, where the upstream state cookie
 * is sent). Once the code is right the address is recorded on the upstream session, which only
 * accepts the address it is waiting for, and the browser returns to the link step.
 */
export function upstreamEmailRouter(deps: EmailVerificationDeps): Router {
  const { app, renderer } = deps;
  const router = express.Router();
  const form = csrfForm(renderer);

  async function pending(req: Request, res: Response) {
    const auth = await registrations.findEmailAuthentication(app.sql, String(req.params.auth));
    const session = typeof req.query.session === 'string' ? req.query.session : '';
    if (!auth || auth.registration_id || auth.user_id || auth.completed_at || !session) {
      renderer.send(res, 404, 'error', { message: msg('errors.no_address_waiting'), code: 'not_found' });
      return undefined;
    }
    return { auth, session };
  }

  const renderCode = (req: Request, res: Response, authId: string, session: string, email: string, status: number, extra: Record<string, unknown> = {}) =>
    renderer.send(res, status, 'verify_email', {
      action: `/upstream/verify-email/${authId}?session=${encodeURIComponent(session)}`,
      csrf: csrfToken(app.config, req, res),
      email,
      minutes: Math.round(app.config.account.email_code_ttl / 60),
      ...extra,
    });

  router.get('/upstream/verify-email/:auth', async (req, res) => {
    const found = await pending(req, res);
    if (found) renderCode(req, res, found.auth.id, found.session, found.auth.email, 200);
  });

  router.post('/upstream/verify-email/:auth', form, async (req, res) => {
    const found = await pending(req, res);
    if (!found) return;
    const { auth, session } = found;
    if (req.body?.action === 'resend') {
      try {
        await resendCode(app, auth, req.ip, renderer.i18n.languageOf(req));
        return renderCode(req, res, auth.id, session, auth.email, 200, { notice: msg('errors.code_sent_again') });
      } catch (err) {
        if (!(err instanceof RateLimited)) throw err;
        res.set('Retry-After', String(Math.ceil(err.retryAfterMs / 1000)));
        return renderCode(req, res, auth.id, session, auth.email, 429, { error: msg('errors.too_many_emails') });
      }
    }
    const outcome = await verifyCode(app, auth, typeof req.body?.code === 'string' ? req.body.code : '');
    if (outcome === 'valid') {
      // The session accepts only the address it is waiting for, and only while unused.
      if (!(await upstream.markEmailVerified(app.sql, session, auth.email))) {
        return renderer.send(res, 400, 'error', { message: msg('errors.upstream.session_expired'), code: 'upstream_session_gone' });
      }
      return res.redirect(303, `/upstream/link/${encodeURIComponent(session)}`);
    }
    if (outcome === 'too_many_attempts') {
      return renderer.send(res, 429, 'error', { title: msg('errors.too_many_codes_title'), message: msg('errors.upstream.wrong_codes'), code: 'too_many_attempts' });
    }
    const error = msg(outcome === 'expired' ? 'errors.code_expired' : 'errors.code_wrong');
    renderCode(req, res, auth.id, session, auth.email, 400, { error, expired: outcome === 'expired' });
  });

  return router;
}
