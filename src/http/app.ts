// Express assembly for one listener: only the resources that listener names are mounted
// (MAS's resource names: discovery, human, oauth, compat, assets, health, prometheus, adminapi;
// and Mauth's own `rendezvous`).
import express, { type ErrorRequestHandler, type Express, type Request, type RequestHandler } from 'express';
import helmet from 'helmet';
import cookieParser from 'cookie-parser';
import { registrationPolicy } from '../oidc/registration.js';
import { DEVICE_AUTHORIZATION_ROUTE, deviceAuthorizationRequest } from '../oidc/device-grant.js';
import { MATRIX_SCOPE_PARAM, ROUTES } from '../oidc/provider.js';
import { accountRouter } from '../views/account.js';
import { compatSsoRouter } from '../views/compat-sso.js';
import { registrationRouter } from '../views/register.js';
import { upstreamRouter } from '../views/upstream/index.js';
import { recoveryRouter } from '../views/recover.js';
import { accountEmailsRouter } from '../views/account-emails.js';
import { captchaOrigins } from '../accounts/captcha.js';
import { PasswordCheckAbandoned, PasswordsBusy } from '../accounts/hash-pool.js';
import { compatRouter } from '../compat/router.js';
import { adminRouter } from '../admin/router.js';
import { rendezvousRouter } from '../rendezvous/router.js';
import { interactionRouter } from '../views/interactions.js';
import { deviceRouter } from '../views/device.js';
import { BUILTIN_TEMPLATES } from '../web/render.js';
import { cookieSecret } from '../web/browser.js';
import { trustProxy } from '../domain/client-address.js';
import { brandingStylesheet } from '../web/branding.js';
import { msg, rememberLanguage } from '../web/i18n.js';
import { cors } from './cors.js';
import { healthHandler } from './health.js';
import { loggedPath, observe, type Metrics } from './observability.js';
import { busyAnswer, errorFormat, unavailableAnswer, unavailableCause } from './unavailable.js';
import { unstorableText } from '../storage/db-errors.js';
import type { ViewDeps } from '../views/deps.js';

/** The view routers' dependencies plus what only the assembly uses. */
export interface HttpDeps extends ViewDeps {
  metrics: Metrics;
}

const BODY_LIMIT = '64kb';

const DISCOVERY_PATHS = ['/.well-known/openid-configuration', '/.well-known/oauth-authorization-server', '/.well-known/webfinger'];
const OAUTH_PATHS = new Set<string>([ROUTES.authorization, ROUTES.token, ROUTES.jwks, ROUTES.registration, ROUTES.revocation, ROUTES.userinfo]);

/** See MATRIX_SCOPE_PARAM: the requested scope, kept whole for the consent step. */
function preserveRequestedScope(req: Request): void {
  const url = new URL(req.url, 'http://placeholder');
  url.searchParams.delete(MATRIX_SCOPE_PARAM);
  const scope = url.searchParams.get('scope');
  if (scope !== null) url.searchParams.set(MATRIX_SCOPE_PARAM, scope);
  req.url = `${url.pathname}${url.search}`;
}

export function createHttpApp(deps: HttpDeps, resources: Set<string>): Express {
  const { app: ctx, provider, renderer, metrics } = deps;
  const { config } = ctx;
  const publicBase = new URL(config.http.public_base);
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.set('trust proxy', trustProxy(config.http.trusted_proxies));
  app.use(observe(ctx.log, metrics));

  const has = (name: string) => resources.has(name);
  // Ahead of the CORS below: the rendezvous answers its own preflights, with Synapse's headers.
  if (has('rendezvous')) app.use(rendezvousRouter(ctx));
  if (has('oauth') || has('discovery') || has('compat')) app.use(cors);

  if (has('health')) app.get('/health', healthHandler(ctx.sql));
  if (has('prometheus')) {
    app.get('/metrics', async (_req, res) => {
      res.type(metrics.registry.contentType).send(await metrics.registry.metrics());
    });
  }

  // POST /oauth2/introspect is answered ahead of Express (see startServer); other methods land here.
  if (has('oauth')) {
    app.all(ROUTES.introspection, (_req, res) => {
      res.status(405).set('Allow', 'POST').json({ error: 'invalid_request', error_description: 'use POST' });
    });
  }

  const pages = helmet({
    contentSecurityPolicy: {
      directives: {
        defaultSrc: ["'self'"],
        imgSrc: ["'self'", 'https:', 'data:'],
        // The registration page's CAPTCHA widget, when one is configured.
        scriptSrc: ["'self'", ...captchaOrigins(config.captcha)],
        frameSrc: ["'self'", ...captchaOrigins(config.captcha)],
        formAction: ["'self'", 'http:', 'https:'],
        frameAncestors: ["'none'"],
      },
    },
    frameguard: { action: 'deny' },
    referrerPolicy: { policy: 'no-referrer' },
    strictTransportSecurity: publicBase.protocol === 'https:',
  });

  // oidc-provider builds every URL from the request: make the request look like it reached
  // http.public_base, whatever Host the reverse proxy or Synapse used.
  const callback = provider.callback();
  const toProvider: RequestHandler = (req, res) => {
    req.headers.host = publicBase.host;
    req.headers['x-forwarded-host'] = publicBase.host;
    req.headers['x-forwarded-proto'] = publicBase.protocol.slice(0, -1);
    if (req.path === ROUTES.authorization) {
      if (req.method === 'GET') preserveRequestedScope(req);
      pages(req, res, () => callback(req, res));
    }
    else callback(req, res);
  };

  // The token endpoint (every client refreshes every few minutes) goes to oidc-provider ahead of
  // what only the pages below use: helmet's headers for HTML, cookie parsing, the language cookie
  // and the page routers' matching. oidc-provider reads its own cookies and bodies; no page route
  // answers this path. (The exact path, as the dispatch below matches it; other methods go there.)
  if (has('oauth')) app.use((req, res, next) => (req.method === 'POST' && req.path === ROUTES.token ? toProvider(req, res, next) : next()));

  if (has('assets')) app.get('/assets/branding.css', brandingStylesheet(config));
  if (has('assets')) app.use('/assets', express.static(`${BUILTIN_TEMPLATES}assets`, { maxAge: '1h', fallthrough: false }));

  if (has('human')) {
    const human = express.Router();
    human.use(pages);
    human.use(cookieParser(cookieSecret(config)));
    human.use(rememberLanguage(renderer.i18n, config));
    // Someone who types the service's address lands on their account (or its login) instead of a 404.
    human.get('/', (_req, res) => res.redirect(302, '/account/'));
    human.use(interactionRouter(deps));
    human.use(accountRouter(deps));
    human.use(compatSsoRouter(deps));
    human.use(registrationRouter(deps));
    human.use(upstreamRouter(deps));
    human.use(recoveryRouter(deps));
    human.use(accountEmailsRouter(deps));
    human.use(deviceRouter(deps));
    app.use(human);
  }

  if (has('compat')) app.use(compatRouter(deps));
  if (has('adminapi')) app.use(adminRouter(deps));

  if (has('oauth')) {
    app.post(ROUTES.registration, express.json({ limit: BODY_LIMIT, type: () => true }), registrationPolicy(ctx), toProvider);
    // Answered by the token endpoint, which authenticates the client (see oidc/device-grant.ts).
    app.post(DEVICE_AUTHORIZATION_ROUTE, ...deviceAuthorizationRequest(ctx), toProvider);
  }
  app.use((req, res, next) => {
    const discovery = has('discovery') && DISCOVERY_PATHS.includes(req.path);
    const oauth = has('oauth') && (OAUTH_PATHS.has(req.path) || req.path.startsWith(`${ROUTES.authorization}/`));
    if (discovery || oauth) return toProvider(req, res, next);
    next();
  });

  app.use((req, res) => {
    const format = errorFormat(req.path);
    if (format === 'html') {
      res.status(404).type('html').send(renderer.render('error', { title: msg('errors.not_found_title'), message: msg('errors.not_found'), code: 'not_found' }, req));
    } else if (format === 'matrix') {
      res.status(404).json({ errcode: 'M_UNRECOGNIZED', error: 'Unrecognized request' });
    } else {
      res.status(404).json({ error: 'not_found', error_description: 'no such endpoint' });
    }
  });

  const onError: ErrorRequestHandler = (err, req, res, _next) => {
    // The client left, or the deadline answered, while the request waited for the password pool.
    if (err instanceof PasswordCheckAbandoned) {
      ctx.log.info({ request_id: res.locals.requestId, path: loggedPath(req.path) }, 'request gone while waiting for the password pool');
      return;
    }
    if (err instanceof PasswordsBusy) {
      ctx.log.info({ retry_after_ms: err.retryAfterMs, request_id: res.locals.requestId, path: loggedPath(req.path) }, 'password pool full: answered 429');
      if (res.headersSent) return;
      const answer = busyAnswer(errorFormat(req.path), renderer, err, req);
      res.status(answer.status).set(answer.headers).type(answer.contentType).send(answer.body);
      return;
    }
    const unavailable = unavailableCause(err);
    if (unavailable) {
      ctx.log.warn({ reason: unavailable.reason, request_id: res.locals.requestId, path: loggedPath(req.path) }, `${unavailable.source} unavailable: answered 503`);
      if (res.headersSent) return;
      const answer = unavailableAnswer(errorFormat(req.path), renderer, unavailable.source, req);
      res.status(answer.status).set(answer.headers).type(answer.contentType).send(answer.body);
      return;
    }
    // Text PostgreSQL cannot hold (a NUL character) reached a query: the request is malformed.
    const status = unstorableText(err) ? 400 : typeof err?.status === 'number' && err.status >= 400 && err.status < 500 ? err.status : 500;
    if (status >= 500) ctx.log.error({ err, request_id: res.locals.requestId }, 'unhandled error');
    if (res.headersSent) return;
    const format = errorFormat(req.path);
    const message = status === 413 ? 'the request body is too large' : status >= 500 ? 'internal error' : 'the request is malformed';
    if (format === 'oauth') {
      res.status(status).json({ error: status >= 500 ? 'server_error' : 'invalid_request', error_description: message });
    } else if (format === 'matrix') {
      res.status(status).json({ errcode: status === 413 ? 'M_TOO_LARGE' : status >= 500 ? 'M_UNKNOWN' : 'M_NOT_JSON', error: message });
    } else {
      const page = msg(status === 413 ? 'errors.too_large' : status >= 500 ? 'errors.internal' : 'errors.bad_request');
      res.status(status).type('html').send(renderer.render('error', { message: page, code: status >= 500 ? 'server_error' : 'bad_request' }, req));
    }
  };
  app.use(onError);
  return app;
}
