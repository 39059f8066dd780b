// How the upstream pages fail: a StepError stops the sign-in with an error page (its status and
// code say why), a FormError shows the registration form again with its message.
import type { Request, Response, NextFunction } from 'express';
import type { Logger } from 'pino';
import { isUnavailable } from '../../upstream/unavailable.js';
import type { Renderer } from '../../web/render.js';

export class StepError extends Error {
  constructor(
    readonly status: number,
    readonly title: string,
    message: string,
    readonly code: string,
  ) {
    super(message);
  }
}

export class FormError extends Error {}

/** An async route whose StepErrors become error pages; anything else goes to the error handler. */
export function step(renderer: Renderer, fn: (req: Request, res: Response) => Promise<void>) {
  return (req: Request, res: Response, next: NextFunction) =>
    fn(req, res).catch((err: unknown) => {
      if (!(err instanceof StepError)) return next(err);
      renderer.send(res, err.status, 'error', { title: err.title, message: err.message, code: err.code });
    });
}

export function misconfigured(): StepError {
  return new StepError(500, 'Sign-in option unavailable', 'This sign-in option is misconfigured. Try again later or contact the administrator.', 'provider_misconfigured');
}

export function sessionUsed(): StepError {
  return new StepError(400, 'This sign-in cannot be completed', 'This sign-in was already used. Start signing in again.', 'upstream_session_used');
}

export function homeserverUnavailable(log: Logger, err: unknown): StepError {
  log.warn({ err }, 'homeserver unreachable while checking a username');
  return new StepError(502, 'The homeserver is not reachable', 'Your account cannot be created right now. Try again in a moment.', 'homeserver_unavailable');
}

/** An error of the provider round trip, logged for the operator, shown plainly to the user. */
export function upstreamFailure(log: Logger, err: unknown, providerId: string, stage: string): StepError {
  const e = err as { code?: string; error?: string; error_description?: string; message?: string };
  if (isUnavailable(err)) {
    log.warn({ upstream_provider_id: providerId, stage, error: e.message, code: e.code }, 'upstream provider unreachable');
    return new StepError(502, 'The identity provider is not reachable', 'The identity provider did not answer. Try again in a moment.', 'upstream_unavailable');
  }
  log.warn({ upstream_provider_id: providerId, stage, error: e.message, code: e.code, oauth_error: e.error, oauth_error_description: e.error_description }, 'upstream sign-in rejected');
  return new StepError(
    400,
    'Sign-in failed',
    'The answer from the identity provider could not be verified, so you were not signed in. Start signing in again.',
    'upstream_response_invalid',
  );
}
