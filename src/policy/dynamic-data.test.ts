import assert from 'node:assert/strict';
import { test } from 'node:test';
import { evaluateGrant } from './authorization-grant.js';
import { PolicyDataMergeError, mergePolicyData } from './dynamic-data.js';
import { policyData } from './test-data.js';

test('policy data merges as MAS merges it: objects by key, lists appended, scalars replaced, null clears', () => {
  const base = { admin_users: ['alice'], registration: { banned_usernames: { literals: ['root'] } }, requester: { banned_ips: ['10.0.0.1'] }, flag: true, n: 1 };
  const merged = mergePolicyData(base, { admin_users: ['bob'], registration: { banned_usernames: { substrings: ['evil'] } }, requester: null, flag: false, n: 2, extra: 'x' });
  assert.deepEqual(merged, {
    admin_users: ['alice', 'bob'],
    registration: { banned_usernames: { literals: ['root'], substrings: ['evil'] } },
    requester: null,
    flag: false,
    n: 2,
    extra: 'x',
  });
  assert.deepEqual(base.admin_users, ['alice'], 'the configuration is left as it was');
});

test('policy data of another kind than the configuration is refused', () => {
  assert.throws(() => mergePolicyData({ admin_users: ['alice'] }, { admin_users: 'bob' }), PolicyDataMergeError);
  assert.throws(() => mergePolicyData({ registration: { banned_usernames: {} } }, { registration: [] }), /cannot merge a list into an object at registration$/);
});

test('client_credentials gets urn:mas:admin only for a client in admin_clients, and never a user scope', () => {
  const data = policyData({ admin_clients: ['C1'] });
  const input = { grantType: 'client_credentials' as const, client: { id: 'C1' }, requester: {} };
  assert.deepEqual(evaluateGrant({ ...input, scopes: ['urn:mas:admin'] }, data), []);
  assert.equal(evaluateGrant({ ...input, client: { id: 'C2' }, scopes: ['urn:mas:admin'] }, data).length, 1);
  assert.equal(evaluateGrant({ ...input, scopes: ['urn:mas:admin'] }, policyData()).length, 1);
  for (const scope of ['urn:matrix:client:api:*', 'urn:synapse:admin:*', 'urn:matrix:client:device:ABCDEFGHIJ']) {
    assert.equal(evaluateGrant({ ...input, scopes: ['urn:mas:admin', scope] }, data).length >= 1, true, scope);
  }
  // admin_clients says nothing about interactive grants: those need an admin user.
  const user = { username: 'u', can_request_admin: false };
  assert.equal(evaluateGrant({ grantType: 'authorization_code', scopes: ['urn:mas:admin'], client: { id: 'C1' }, user, requester: {} }, data).length, 1);
});
