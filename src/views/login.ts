// The browser login form's view of a password login.
import type { Response } from 'express';
import type { LoginFailure } from '../accounts/authenticate.js';
import { RETRY_AFTER_SECONDS } from '../storage/db-errors.js';
import { msg, type Message } from '../web/i18n.js';

/** Why a login failed, as the page translates it (a directory's refusal comes with its own words). */
export function loginErrorMessage(failure: LoginFailure): Message | string {
  switch (failure.reason) {
    case 'invalid':
      return msg('errors.login.invalid');
    case 'locked':
      return msg('errors.login.locked');
    case 'deactivated':
      return msg('errors.login.deactivated');
    case 'disabled':
      return msg('errors.login.disabled');
    case 'rate_limited':
      return msg('errors.login.rate_limited', { seconds: Math.ceil(failure.retryAfterMs / 1000) });
    case 'unavailable':
      return msg('errors.login.directory_unavailable');
    case 'refused':
      return failure.message;
  }
}

export function loginErrorStatus(failure: LoginFailure, res: Response): number {
  if (failure.reason === 'rate_limited') {
    res.set('Retry-After', String(Math.ceil(failure.retryAfterMs / 1000)));
    return 429;
  }
  if (failure.reason === 'unavailable') {
    res.set('Retry-After', String(RETRY_AFTER_SECONDS));
    return 503;
  }
  return 403;
}
