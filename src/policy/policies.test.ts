import assert from 'node:assert/strict';
import { test } from 'node:test';
import { evaluateClientRegistration } from './client-registration.js';
import { evaluateGrant } from './authorization-grant.js';
import { policyData } from './test-data.js';

const none = policyData();
const requester = {};

const web = { client_uri: 'https://app.example.com/', redirect_uris: ['https://app.example.com/callback'] };

test('a web client with redirects on its own host is accepted', () => {
  assert.deepEqual(evaluateClientRegistration(web), []);
  assert.deepEqual(
    evaluateClientRegistration({ client_uri: 'https://example.com/', redirect_uris: ['https://app.example.com/cb'] }),
    [],
  );
});

test('a redirect on another host, over http, or on a non-standard port is refused', () => {
  for (const uri of ['https://evil.example.net/cb', 'http://app.example.com/cb', 'https://app.example.com:8443/cb']) {
    const v = evaluateClientRegistration({ ...web, redirect_uris: [uri] });
    assert.equal(v.length, 1, uri);
    assert.equal(v[0].field, 'redirect_uris');
  }
});

test('client_uri is required and must be https', () => {
  assert.equal(evaluateClientRegistration({ redirect_uris: web.redirect_uris })[0].msg, 'missing client_uri');
  assert.equal(evaluateClientRegistration({ ...web, client_uri: 'http://app.example.com/' })[0].msg, 'invalid client_uri');
});

test('native clients may use loopback with any port and a reverse-DNS private scheme', () => {
  const native = { application_type: 'native', client_uri: 'https://element.io/' };
  for (const uri of ['http://127.0.0.1:12345/cb', 'http://[::1]:80/', 'http://localhost/cb', 'io.element:/callback', 'io.element.app:/cb']) {
    assert.deepEqual(evaluateClientRegistration({ ...native, redirect_uris: [uri] }), [], uri);
  }
  for (const uri of ['com.evil:/cb', 'io.element://host/cb', 'https://127.0.0.1/cb']) {
    assert.equal(evaluateClientRegistration({ ...native, redirect_uris: [uri] }).length, 1, uri);
  }
  // loopback is only for native apps
  assert.equal(evaluateClientRegistration({ ...web, redirect_uris: ['http://127.0.0.1:1234/cb'] }).length, 1);
});

test('logo, tos and policy URIs must sit on the client host', () => {
  assert.deepEqual(evaluateClientRegistration({ ...web, logo_uri: 'https://cdn.app.example.com/l.png' }), []);
  assert.equal(evaluateClientRegistration({ ...web, tos_uri: 'https://other.org/tos' })[0].field, 'tos_uri');
});

const device = 'urn:matrix:client:device:ABCDEFGHIJ';
test('a Matrix login with one device scope is allowed', () => {
  assert.deepEqual(evaluateGrant({ grantType: 'authorization_code', scopes: ['openid', 'urn:matrix:client:api:*', device], requester }, none), []);
});

test('two device scopes, a device without API scope, or mixed forms are refused', () => {
  const api = 'urn:matrix:client:api:*';
  assert.ok(evaluateGrant({ grantType: 'authorization_code', scopes: [api, device, `${device}K`], requester }, none).length > 0);
  assert.ok(evaluateGrant({ grantType: 'authorization_code', scopes: [device], requester }, none).length > 0);
  assert.ok(
    evaluateGrant({ grantType: 'authorization_code', scopes: ['urn:matrix:org.matrix.msc2967.client:api:*', device], requester }, none).length > 0,
  );
  assert.ok(evaluateGrant({ grantType: 'authorization_code', scopes: [api, 'urn:matrix:client:device:short'], requester }, none).length > 0);
});

test('the Synapse admin scope needs a user allowed admin', () => {
  const scopes = ['openid', 'urn:synapse:admin:*'];
  assert.equal(evaluateGrant({ grantType: 'authorization_code', scopes, user: { username: 'a', can_request_admin: false }, requester }, none).length, 1);
  assert.deepEqual(evaluateGrant({ grantType: 'authorization_code', scopes, user: { username: 'a', can_request_admin: true }, requester }, none), []);
  assert.deepEqual(
    evaluateGrant({ grantType: 'authorization_code', scopes, user: { username: 'a', can_request_admin: false }, requester }, policyData({ admin_users: ['a'] })),
    [],
  );
});
