// Dynamic clients may not carry what would make Mauth fetch or trust a key set.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { evaluateClientRegistration, staticOnlyViolations } from './client-registration.js';
import { policyData } from './test-data.js';

const native = {
  application_type: 'native',
  client_uri: 'https://app.example.org/',
  redirect_uris: ['http://127.0.0.1/cb'],
};

test('dynamic clients authenticate with none or a client secret, as MAS offers', () => {
  for (const method of [undefined, 'none', 'client_secret_basic', 'client_secret_post']) {
    assert.deepEqual(evaluateClientRegistration({ ...native, token_endpoint_auth_method: method }), [], String(method));
  }
});

test('key-based methods, key sets and sector identifiers are for static clients only', () => {
  for (const method of ['private_key_jwt', 'client_secret_jwt', 'tls_client_auth', 'self_signed_tls_client_auth', 42]) {
    const v = evaluateClientRegistration({ ...native, token_endpoint_auth_method: method });
    assert.deepEqual(v.map((x) => x.field), ['token_endpoint_auth_method'], String(method));
  }
  for (const field of ['jwks_uri', 'jwks', 'sector_identifier_uri'] as const) {
    const v = evaluateClientRegistration({ ...native, [field]: field === 'jwks' ? { keys: [] } : 'http://127.0.0.1:9/x' });
    assert.deepEqual(v.map((x) => x.field), [field]);
  }
  assert.equal(staticOnlyViolations({ token_endpoint_auth_method: 'private_key_jwt', jwks_uri: 'https://a.example/k' }).length, 2);
});

test('client_registration in the policy data relaxes the rules it names, and only those', () => {
  const relaxed = (key: string) => policyData({ client_registration: { [key]: true } }).client_registration;
  const web = { client_uri: 'https://app.example.org/', redirect_uris: ['https://app.example.org/cb'] };
  // allow_insecure_uris: http and localhost URIs
  const insecure = { client_uri: 'http://localhost:8080/', redirect_uris: ['http://localhost:8080/cb'] };
  assert.ok(evaluateClientRegistration(insecure).length > 0);
  assert.deepEqual(evaluateClientRegistration(insecure, relaxed('allow_insecure_uris')), []);
  // allow_host_mismatch: URIs on another host than client_uri
  const elsewhere = { ...web, redirect_uris: ['https://other.example.net/cb'], tos_uri: 'https://tos.example.net/' };
  assert.deepEqual(evaluateClientRegistration(elsewhere).map((v) => v.field), ['tos_uri', 'redirect_uris']);
  assert.deepEqual(evaluateClientRegistration(elsewhere, relaxed('allow_host_mismatch')), []);
  // allow_missing_client_uri: no client_uri at all
  const anonymous = { redirect_uris: ['https://app.example.org/cb'] };
  assert.deepEqual(evaluateClientRegistration(anonymous).map((v) => v.msg), ['missing client_uri', 'invalid redirect_uri https://app.example.org/cb']);
  assert.deepEqual(evaluateClientRegistration(anonymous, relaxed('allow_missing_client_uri')), []);
  assert.ok(evaluateClientRegistration(elsewhere, relaxed('allow_insecure_uris')).length > 0, 'one flag does not lift the others');
});

test('a public client may not use client_credentials; redirect_uris must be a non-empty list for the code grant', () => {
  assert.deepEqual(evaluateClientRegistration({ ...native, grant_types: ['client_credentials'], token_endpoint_auth_method: 'none' }).map((v) => v.field), ['grant_types']);
  assert.deepEqual(evaluateClientRegistration({ ...native, redirect_uris: [] }).map((v) => v.msg), ['invalid redirect_uris: it must have at least one redirect_uri']);
  assert.deepEqual(evaluateClientRegistration({ ...native, redirect_uris: 'http://127.0.0.1/cb' }).map((v) => v.msg), ['invalid redirect_uris: it must be an array']);
  assert.deepEqual(evaluateClientRegistration({ client_uri: native.client_uri }).map((v) => v.msg), ['missing redirect_uris']);
});
