// The verified-e-mail step of upstream registration. When the provider's address is not
// imported as verified and `account.password_registration_email_required` is set, the account
// is not created until the browser proves the address with a mailed code.
//
// The mailed-code flow plugs in here: `emailVerificationStep` takes over the response (sends the
// code, shows the code form, ...); once the code is right it calls `markUpstreamEmailVerified`
// and sends the browser to `request.continueUrl` with a GET, where registration finishes with the
// answers the user already gave. Until that flow is wired, the step refuses with a clear page.
import type { Request, Response } from 'express';
import type { AppContext } from '../context.js';
import type { Db } from '../storage/db.js';
import * as upstream from '../storage/upstream.js';
import type { Renderer } from '../views/render.js';

export interface EmailVerificationRequest {
  /** The upstream authorization session the registration belongs to. */
  upstreamSessionId: string;
  /** The address to prove (as the provider gave it). */
  email: string;
  /** GET this after `markUpstreamEmailVerified` succeeded: registration then completes. */
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
  _req: Request,
  res: Response,
  request: EmailVerificationRequest,
): Promise<void> {
  deps.app.log.info({ upstream_session_id: request.upstreamSessionId }, 'upstream registration needs a verified e-mail address; mailed codes are not available for it');
  res
    .status(403)
    .type('html')
    .set('Cache-Control', 'no-store')
    .send(
      deps.renderer.render('error', {
        title: 'Your e-mail address must be verified',
        message:
          'This server only creates accounts with a verified e-mail address, and your identity provider did not confirm yours. ' +
          'Verify the address with your identity provider, then sign in again.',
        code: 'email_not_verified',
      }),
    );
}

/** Records that the browser proved `email` for this registration; false when the session is gone or used. */
export async function markUpstreamEmailVerified(db: Db, upstreamSessionId: string, email: string): Promise<boolean> {
  return upstream.markEmailVerified(db, upstreamSessionId, email);
}
