// Reading policy data: every key MAS's default policy reads, typed once; anything the policies
// would not use is a problem named by its path.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { buildPolicyData, describeProblems, matchesString, readPolicyData } from './policy-data.js';

const base = { server_name: 'example.com' };
const problems = (raw: Record<string, unknown>) => buildPolicyData(base, [raw]).problems.map((p) => p.path);

test('empty data gives the defaults: no lists, no allow-lists, every client registration rule on, no session limit', () => {
  const { data } = buildPolicyData(base, [{}]);
  assert.ok(data);
  assert.equal(data.server_name, 'example.com');
  assert.deepEqual([data.admin_users, data.admin_clients, data.banned_domains], [[], [], []]);
  assert.equal(data.allowed_domains, undefined);
  assert.deepEqual(data.client_registration, { allow_host_mismatch: false, allow_insecure_uris: false, allow_missing_client_uri: false });
  assert.equal(data.registration.allowed_usernames, undefined);
  assert.equal(data.requester.banned_ips, undefined);
  assert.equal(data.session_limit, undefined);
});

test('every key is read into its type', () => {
  const { data } = buildPolicyData(base, [
    {
      admin_users: ['alice'],
      admin_clients: ['01H8PKNWKKRPCBW4YGH1RWV279'],
      client_registration: { allow_host_mismatch: true, allow_insecure_uris: true, allow_missing_client_uri: true },
      registration: { allowed_usernames: { prefixes: ['staff.'] }, banned_usernames: { regexes: ['^admin'] } },
      emails: { allowed_addresses: { suffixes: ['@example.com'] }, banned_addresses: { substrings: ['spam'] } },
      allowed_domains: ['example.com'],
      banned_domains: ['*.evil.test'],
      requester: { banned_ips: ['10.0.0.0/8', '2001:db8::1'], banned_user_agents: { literals: ['curl/8'] } },
      session_limit: { soft_limit: 2, hard_limit: 4, max_session_threshold: 100 },
    },
  ]);
  assert.ok(data);
  assert.deepEqual(data.admin_users, ['alice']);
  assert.equal(data.client_registration.allow_insecure_uris, true);
  assert.ok(matchesString('admin2', data.registration.banned_usernames), 'regexes are compiled');
  assert.ok(data.requester.banned_ips?.contains('10.1.2.3'));
  assert.deepEqual(data.session_limit, { soft_limit: 2, hard_limit: 4, max_session_threshold: 100, dangerous_hard_limit_eviction: false });
});

test('an unknown key, at the top or inside a section, is refused with its path', () => {
  assert.deepEqual(problems({ admin_user: ['alice'] }), ['admin_user']);
  assert.deepEqual(problems({ registration: { banned_username: { literals: ['x'] } } }), ['registration.banned_username']);
  assert.deepEqual(problems({ registration: { banned_usernames: { literal: ['x'] } } }), ['registration.banned_usernames.literal']);
  assert.deepEqual(problems({ requester: { allowed_ips: ['10.0.0.1'] } }), ['requester.allowed_ips']);
  assert.match(describeProblems(buildPolicyData(base, [{ admin_user: [] }]).problems, 'policy.data'), /^policy\.data\.admin_user: is not a key the policies know \(expected one of admin_users, /);
});

test('values of the wrong type are refused with their path', () => {
  assert.deepEqual(problems({ admin_users: 'alice' }), ['admin_users']);
  assert.deepEqual(problems({ admin_clients: ['a', 7] }), ['admin_clients[1]']);
  assert.deepEqual(problems({ client_registration: { allow_insecure_uris: 'yes' } }), ['client_registration.allow_insecure_uris']);
  assert.deepEqual(problems({ emails: { banned_addresses: ['a@b.c'] } }), ['emails.banned_addresses']);
  assert.deepEqual(problems({ registration: { banned_usernames: { regexes: ['(unclosed'] } } }), ['registration.banned_usernames.regexes[0]']);
  assert.deepEqual(problems({ requester: { banned_ips: ['10.0.0.0/33', 'example.com', '10.0.0.1/8/1', '::1'] } }), [
    'requester.banned_ips[0]',
    'requester.banned_ips[1]',
    'requester.banned_ips[2]',
  ]);
  assert.deepEqual(problems({ requester: { banned_user_agents: 'curl' } }), ['requester.banned_user_agents']);
  assert.deepEqual(problems({ session_limit: { soft_limit: 0, hard_limit: 2.5 } }), ['session_limit.soft_limit', 'session_limit.hard_limit']);
});

test('session_limit needs both limits, the hard one at least the soft one, and 2 for eviction', () => {
  assert.deepEqual(problems({ session_limit: { soft_limit: 3 } }), ['session_limit.hard_limit']);
  assert.deepEqual(problems({ session_limit: { soft_limit: 3, hard_limit: 2 } }), ['session_limit.hard_limit']);
  assert.deepEqual(problems({ session_limit: { soft_limit: 1, hard_limit: 1, dangerous_hard_limit_eviction: true } }), ['session_limit.hard_limit']);
  assert.deepEqual(problems({ session_limit: { soft_limit: 1, hard_limit: 2, dangerous_hard_limit_eviction: true } }), []);
});

test('server_name comes from matrix.homeserver only', () => {
  assert.deepEqual(problems({ server_name: 'other.example' }), ['server_name']);
  assert.deepEqual(readPolicyData({ server_name: 3 }).problems.map((p) => p.path), ['server_name']);
});

test('layers merge as MAS merges them: the base, then policy.data, then the admin API data; null clears', () => {
  const sessionLimit = { soft_limit: 5, hard_limit: 10, max_session_threshold: undefined, dangerous_hard_limit_eviction: false };
  const { data } = buildPolicyData({ server_name: 'example.com', session_limit: sessionLimit }, [
    { admin_users: ['alice'], requester: { banned_ips: ['10.0.0.1'] }, session_limit: { soft_limit: 3 } },
    { admin_users: ['bob'], requester: { banned_ips: null }, allowed_domains: null },
  ]);
  assert.ok(data);
  assert.deepEqual(data.admin_users, ['alice', 'bob']);
  assert.equal(data.requester.banned_ips, undefined, 'null clears the list of the configuration');
  assert.equal(data.allowed_domains, undefined);
  assert.deepEqual(data.session_limit, { soft_limit: 3, hard_limit: 10, dangerous_hard_limit_eviction: false });
  const clash = buildPolicyData(base, [{ registration: {} }, { registration: [] }]);
  assert.deepEqual(clash.problems, [{ path: '', message: 'cannot merge a list into an object at registration' }]);
});

test('string constraints match as MAS’s do: any literal, substring, prefix, suffix or (unanchored) regex', () => {
  const { data } = buildPolicyData(base, [{ registration: { banned_usernames: { literals: ['root'], substrings: ['adm'], prefixes: ['_'], suffixes: ['-bot'], regexes: ['[0-9]{4}'] } } }]);
  const banned = data?.registration.banned_usernames;
  for (const name of ['root', 'sysadmin', '_x', 'news-bot', 'born1999x']) assert.ok(matchesString(name, banned), name);
  for (const name of ['rooted', 'alice', 'x_', 'bot-news', 'b123']) assert.ok(!matchesString(name, banned), name);
  assert.ok(!matchesString('anything', undefined));
});
