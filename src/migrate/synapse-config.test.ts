import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseSynapseConfig } from './synapse-config.js';

test("SSO providers get the ids Synapse records in user_external_ids", () => {
  const config = parseSynapseConfig({
    oidc_providers: [{ idp_id: 'keycloak', issuer: 'https://kc.example/' }, { idp_id: 'oidc', issuer: 'https://a.example/' }, { idp_id: 'off', enabled: false }],
    oidc_config: { enabled: true, idp_id: 'legacy', issuer: 'https://legacy.example/' },
    cas_config: { server_url: 'https://cas.example/' },
    saml2_config: { sp_config: {} },
  });
  assert.deepEqual(config.ssoProviders.map((p) => p.idpId), ['oidc-keycloak', 'oidc', 'oidc-legacy', 'cas', 'saml']);
  assert.deepEqual(parseSynapseConfig({ saml2_config: { enabled: true } }).ssoProviders, [], 'SAML without an SP configuration is off');
});

test('password providers: legacy password_providers, password-checking modules, a disabled local database', () => {
  const config = parseSynapseConfig({
    password_providers: [{ module: 'my_company.Auth' }],
    modules: [{ module: 'synapse_spamcheck.Checker' }, { module: 'ldap_auth_provider.LdapAuthProviderModule' }],
    password_config: { localdb_enabled: false, pepper: 'p' },
  });
  assert.deepEqual(config.passwordProviders, ['my_company.Auth', 'ldap_auth_provider.LdapAuthProviderModule', 'password_config.localdb_enabled: false']);
  assert.equal(config.pepper, 'p');
  assert.deepEqual(parseSynapseConfig({ modules: [{ module: 'synapse_spamcheck.Checker' }] }).passwordProviders, []);
});

test('the database: psycopg2 arguments, SQLite refused', () => {
  const config = parseSynapseConfig({ database: { name: 'psycopg2', args: { user: 'synapse', password: 'pw', dbname: 'synapse', host: 'db', port: '5433' } } });
  assert.deepEqual(config.database, { target: { host: 'db', port: 5433, user: 'synapse', password: 'pw', database: 'synapse' } });
  assert.match((parseSynapseConfig({}).database as { problem: string }).problem, /sqlite3; only PostgreSQL/);
  assert.match((parseSynapseConfig({ database: { name: 'psycopg2', args: { database: 'a', dbname: 'b' } } }).database as { problem: string }).problem, /both/);
});
