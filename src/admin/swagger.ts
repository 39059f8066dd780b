// Swagger UI for the admin API at /api/doc/, served from the installed `swagger-ui-dist` package
// (no CDN): its page loads /api/spec.json, and signing in with OAuth 2.0 comes back to
// /api/doc/oauth2-redirect.html.
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import express, { type Router } from 'express';
import helmet from 'helmet';

const DIST = dirname(createRequire(import.meta.url).resolve('swagger-ui-dist/package.json'));
/** The files of the package the page uses; nothing else of node_modules is reachable. */
const ASSETS = new Set([
  'swagger-ui.css',
  'index.css',
  'swagger-ui-bundle.js',
  'swagger-ui-standalone-preset.js',
  'oauth2-redirect.html',
  'oauth2-redirect.js',
  'favicon-16x16.png',
  'favicon-32x32.png',
]);

const PAGE = `<!DOCTYPE html>
<html lang="en">
  <head>
    <meta charset="UTF-8">
    <title>Mauth admin API</title>
    <link rel="stylesheet" type="text/css" href="./swagger-ui.css" />
    <link rel="stylesheet" type="text/css" href="./index.css" />
    <link rel="icon" type="image/png" href="./favicon-32x32.png" sizes="32x32" />
  </head>
  <body>
    <div id="swagger-ui"></div>
    <script src="./swagger-ui-bundle.js" charset="UTF-8"></script>
    <script src="./swagger-ui-standalone-preset.js" charset="UTF-8"></script>
    <script src="./swagger-initializer.js" charset="UTF-8"></script>
  </body>
</html>
`;

const INITIALIZER = `window.onload = function () {
  var here = new URL('.', window.location.href);
  window.ui = SwaggerUIBundle({
    url: new URL('../spec.json', here).href,
    dom_id: '#swagger-ui',
    deepLinking: true,
    presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],
    layout: 'StandaloneLayout',
    oauth2RedirectUrl: new URL('oauth2-redirect.html', here).href,
    persistAuthorization: false,
  });
  window.ui.initOAuth({ scopes: 'urn:mas:admin', usePkceWithAuthorizationCodeGrant: true });
};
`;

export function swaggerRouter(): Router {
  const router = express.Router();
  router.use(
    helmet({
      contentSecurityPolicy: {
        directives: {
          defaultSrc: ["'self'"],
          scriptSrc: ["'self'"],
          // Swagger UI sets style attributes on its elements.
          styleSrc: ["'self'", "'unsafe-inline'"],
          imgSrc: ["'self'", 'data:'],
          connectSrc: ["'self'"],
          frameAncestors: ["'none'"],
        },
      },
      referrerPolicy: { policy: 'no-referrer' },
    }),
  );
  router.get('/', (req, res) => {
    // Relative asset URLs need the trailing slash.
    if (!req.originalUrl.split('?')[0].endsWith('/')) return res.redirect(301, `${req.baseUrl}/`);
    res.type('html').set('Cache-Control', 'no-cache').send(PAGE);
  });
  router.get('/swagger-initializer.js', (_req, res) => {
    res.type('js').set('Cache-Control', 'no-cache').send(INITIALIZER);
  });
  router.get('/:file', (req, res, next) => {
    const file = String(req.params.file);
    if (!ASSETS.has(file)) return next();
    res.set('Cache-Control', 'public, max-age=3600').sendFile(file, { root: DIST });
  });
  return router;
}
