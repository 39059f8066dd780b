// Signing in through an upstream provider, one file per step:
//   GET  /upstream/authorize/{id}           authorize.ts   sends the browser to the provider
//   GET/POST /upstream/callback/{id}        callback.ts    takes the provider's answer
//   GET/POST /upstream/link/{session}       link.ts        signs in, links, or registers (register.ts)
//   GET/POST /upstream/verify-email/{auth}  email-verification.ts  proves a registration's address
//   POST /upstream/backchannel-logout/{id}  backchannel.ts the provider ends sessions
// The round trip's secrets live in the state cookie (state.ts); the decisions are upstream/link.ts.
import express, { type Router } from 'express';
import type { ViewDeps } from '../deps.js';
import { authorizeRouter } from './authorize.js';
import { backchannelRouter } from './backchannel.js';
import { callbackRouter } from './callback.js';
import { upstreamEmailRouter } from './email-verification.js';
import { linkRouter } from './link.js';

export function upstreamRouter(deps: Pick<ViewDeps, 'app' | 'provider' | 'renderer'>): Router {
  const router = express.Router();
  router.use(authorizeRouter(deps), callbackRouter(deps), linkRouter(deps), backchannelRouter(deps), upstreamEmailRouter(deps));
  return router;
}
