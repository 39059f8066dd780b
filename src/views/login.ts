// The browser login form's view of a password login.
import type { Response } from 'express';
import type { LoginFailure } from '../accounts/authenticate.js';
import { RETRY_AFTER_SECONDS } from '../storage/db-errors.js';

export function loginError(failure: LoginFailure): string {
  switch (failure.reason) {
    case 'invalid':
      return 'Invalid username or password.';
    case 'locked':
      return 'This account is locked.';
    case 'deactivated':
      return 'This account has been deactivated.';
    case 'disabled':
      return 'Password sign-in is disabled on this server.';
    case 'rate_limited':
      return `Too many attempts. Try again in ${Math.ceil(failure.retryAfterMs / 1000)} seconds.`;
    case 'unavailable':
      return 'The directory service is not answering, so your password cannot be checked. Try again in a moment.';
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
