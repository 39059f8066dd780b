// Black box: browser clients on another origin (Element Web) can call the OAuth 2.0 endpoints,
// discovery and the compatibility layer: preflights answer 204 and every answer, errors included,
// carries Access-Control-Allow-Origin. Pages and Synapse's introspection carry none.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';
import { startHomeserverDouble, type HomeserverDouble } from '../support/homeserver-double.js';
import { createMauth, type MauthInstance } from '../support/mauth-process.js';

const ORIGIN = 'https://app.element.io';
let hs: HomeserverDouble;
let mauth: MauthInstance;

before(async () => {
  const secret = randomBytes(16).toString('hex');
  hs = await startHomeserverDouble({ secret, serverName: 'cors.test' });
  mauth = await createMauth({ homeserverUrl: hs.url, serverName: 'cors.test', secret });
  await mauth.start();
});

after(async () => {
  await mauth?.stop();
  await mauth?.drop();
  await hs?.stop();
});

const ROUTES: [string, string][] = [
  ['/.well-known/openid-configuration', 'GET'],
  ['/oauth2/registration', 'POST'],
  ['/oauth2/token', 'POST'],
  ['/oauth2/revoke', 'POST'],
  ['/oauth2/userinfo', 'GET'],
  ['/oauth2/keys.json', 'GET'],
  ['/_matrix/client/v3/login', 'POST'],
  ['/_matrix/client/v3/logout', 'POST'],
  ['/_matrix/client/r0/refresh', 'POST'],
];

test('a preflight to each browser-facing route gets 204 with the allowed method and headers', async () => {
  for (const [path, method] of ROUTES) {
    const res = await fetch(`${mauth.url}${path}`, {
      method: 'OPTIONS',
      headers: { origin: ORIGIN, 'access-control-request-method': method, 'access-control-request-headers': 'content-type, authorization' },
    });
    assert.equal(res.status, 204, path);
    assert.equal(res.headers.get('access-control-allow-origin'), '*', path);
    assert.ok(res.headers.get('access-control-allow-methods')?.split(', ').includes(method), `${path}: ${res.headers.get('access-control-allow-methods')}`);
    assert.match(res.headers.get('access-control-allow-headers') ?? '', /Authorization/i, path);
    assert.match(res.headers.get('access-control-allow-headers') ?? '', /Content-Type/i, path);
  }
});

test('answers to a browser on another origin carry Access-Control-Allow-Origin, errors included', async () => {
  const discovery = await fetch(`${mauth.url}/.well-known/openid-configuration`, { headers: { origin: ORIGIN } });
  assert.equal(discovery.status, 200);
  assert.ok(discovery.headers.get('access-control-allow-origin'), 'discovery');

  const token = await fetch(`${mauth.url}/oauth2/token`, {
    method: 'POST',
    headers: { origin: ORIGIN, 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'authorization_code', code: 'nonsense', client_id: 'nobody' }),
  });
  assert.ok(token.status >= 400 && token.status < 500, `token error status ${token.status}`);
  assert.ok(token.headers.get('access-control-allow-origin'), 'the token endpoint error');

  const login = await fetch(`${mauth.url}/_matrix/client/v3/login`, {
    method: 'POST',
    headers: { origin: ORIGIN, 'content-type': 'application/json' },
    body: '{not json',
  });
  assert.equal(login.status, 400);
  assert.equal(login.headers.get('access-control-allow-origin'), '*', 'the compat error');
});

test('pages and introspection carry no CORS headers', async () => {
  for (const path of ['/login', '/account/']) {
    const res = await fetch(`${mauth.url}${path}`, { headers: { origin: ORIGIN }, redirect: 'manual' });
    assert.equal(res.headers.get('access-control-allow-origin'), null, path);
    const preflight = await fetch(`${mauth.url}${path}`, { method: 'OPTIONS', headers: { origin: ORIGIN, 'access-control-request-method': 'POST' } });
    assert.equal(preflight.headers.get('access-control-allow-origin'), null, `${path} preflight`);
  }
  const introspection = await fetch(`${mauth.url}/oauth2/introspect`, {
    method: 'POST',
    headers: { origin: ORIGIN, authorization: `Bearer ${mauth.secret}`, 'content-type': 'application/x-www-form-urlencoded' },
    body: 'token=mat_nothing',
  });
  assert.equal(introspection.status, 200);
  assert.equal(introspection.headers.get('access-control-allow-origin'), null, 'introspection');
});
