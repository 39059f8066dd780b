// Password registration (`account.password_registration_enabled`): filled in by the
// registration issue; mounted now so the interaction pages can point at it.
import express, { type Router } from 'express';
import type { HttpDeps } from '../http/app.js';

export function registrationRouter(_deps: HttpDeps): Router {
  return express.Router();
}
