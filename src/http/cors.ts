// CORS for browser clients on another origin (Element Web): the endpoints a Matrix client calls
// from its own page answer preflights and carry Access-Control-Allow-Origin on every answer,
// errors included. Any origin may call them, as with MAS: they are protected by tokens and client
// authentication, never by cookies. HTML pages and introspection (Synapse's, server to server)
// get no CORS headers.
import type { RequestHandler } from 'express';
import { DEVICE_AUTHORIZATION_ROUTE } from '../oidc/device-grant.js';
import { ROUTES } from '../oidc/provider.js';

const DISCOVERY = ['/.well-known/openid-configuration', '/.well-known/oauth-authorization-server', '/.well-known/webfinger'];
const OAUTH = [ROUTES.registration, ROUTES.token, ROUTES.revocation, ROUTES.userinfo, ROUTES.jwks, DEVICE_AUTHORIZATION_ROUTE];
const COMPAT = /^\/_matrix\/client\/(?:v3|r0)\/(?:login|logout|logout\/all|refresh)$/;

const ALLOWED_HEADERS = 'Authorization, Content-Type, Accept, X-Requested-With';
const MAX_AGE_SECONDS = '86400';

/** Which methods a CORS route answers, or undefined for a path that gets no CORS. */
export function corsMethods(path: string): string | undefined {
  if (DISCOVERY.includes(path) || path === ROUTES.jwks) return 'GET, OPTIONS';
  if (path === ROUTES.userinfo) return 'GET, POST, OPTIONS';
  if (OAUTH.includes(path)) return 'POST, OPTIONS';
  if (COMPAT.test(path)) return path.endsWith('/login') ? 'GET, POST, OPTIONS' : 'POST, OPTIONS';
  return undefined;
}

export const cors: RequestHandler = (req, res, next) => {
  const methods = corsMethods(req.path);
  if (!methods) return next();
  res.set('Access-Control-Allow-Origin', '*');
  if (req.method !== 'OPTIONS') return next();
  res
    .status(204)
    .set({
      'Access-Control-Allow-Methods': methods,
      'Access-Control-Allow-Headers': ALLOWED_HEADERS,
      'Access-Control-Max-Age': MAX_AGE_SECONDS,
    })
    .end();
};
