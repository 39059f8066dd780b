// Dynamic clients may not carry what would make Mauth fetch or trust a key set.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { evaluateClientRegistration, staticOnlyViolations } from './client-registration.js';

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
