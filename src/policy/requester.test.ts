// The requester rule every policy shares (MAS's common.requester_banned) and where it applies.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { evaluateGrant } from './authorization-grant.js';
import { evaluateCompatLogin } from './compat-login.js';
import { evaluateRegistration } from './register.js';
import { REQUESTER_BANNED, requesterBanned, requesterOf, requesterViolation } from './requester.js';
import { policyData } from './test-data.js';

const data = policyData({
  requester: {
    banned_ips: ['192.168.1.0/24', '10.0.0.7', 'fe80::/64', '2001:db8::1'],
    banned_user_agents: { literals: ['Pretend this is Real;'], substrings: ['BadBot'], regexes: ['^Scanner/[0-9]+'], prefixes: ['evil-'], suffixes: ['(spam)'] },
  },
});

test('addresses in banned_ips are banned: single addresses, IPv4 and IPv6 ranges, IPv4-mapped IPv6', () => {
  for (const ip of ['192.168.1.1', '192.168.1.254', '10.0.0.7', 'fe80::1234', '2001:db8::1', '::ffff:192.168.1.9', '::ffff:10.0.0.7']) {
    assert.ok(requesterBanned({ ip_address: ip }, data), ip);
  }
  for (const ip of ['192.168.2.1', '10.0.0.8', 'fe80:0:0:1::1', '2001:db8::2', 'not-an-ip']) {
    assert.ok(!requesterBanned({ ip_address: ip }, data), ip);
  }
});

test('user agents matching banned_user_agents are banned, by each kind of constraint', () => {
  for (const agent of ['Pretend this is Real;', 'Mozilla/5.0 BadBot/1.0', 'Scanner/42 (x)', 'evil-client 1.0', 'curl (spam)']) {
    assert.ok(requesterBanned({ user_agent: agent }, data), agent);
  }
  for (const agent of ['Pretend this is Real; not', 'Mozilla/5.0', 'MyScanner/42', 'not-evil-client', '(spam) curl']) {
    assert.ok(!requesterBanned({ user_agent: agent }, data), agent);
  }
});

test('an unknown requester, or data without requester rules, bans nobody', () => {
  assert.ok(!requesterBanned({}, data));
  assert.ok(!requesterBanned({ ip_address: '10.0.0.7', user_agent: 'BadBot' }, policyData()));
});

test('the violation names the requester as MAS does', () => {
  assert.deepEqual(requesterViolation({ ip_address: '10.0.0.7', user_agent: 'curl/8' }, data), {
    code: REQUESTER_BANNED,
    msg: "Requester [10.0.0.7 / curl/8] isn't allowed to do this action",
  });
  assert.equal(requesterViolation({ user_agent: 'BadBot' }, data)?.msg, "Requester [BadBot] isn't allowed to do this action");
  assert.equal(requesterViolation({ ip_address: '10.0.0.8' }, data), undefined);
});

test('the requester of a request is its address after trusted proxies, else its peer, and its user agent', () => {
  assert.deepEqual(requesterOf({ ip: '203.0.113.5', headers: { 'user-agent': 'Element/1.0' }, socket: { remoteAddress: '127.0.0.1' } }), { ip_address: '203.0.113.5', user_agent: 'Element/1.0' });
  assert.deepEqual(requesterOf({ headers: {}, socket: { remoteAddress: '127.0.0.1' } }), { ip_address: '127.0.0.1' });
});

test('registration, the authorization grant (every grant type) and compat login refuse a banned requester', () => {
  const banned = { ip_address: '10.0.0.7' };
  assert.deepEqual(evaluateRegistration({ username: 'alice', emailRequired: false, requester: banned }, data).map((v) => v.code), [REQUESTER_BANNED]);
  assert.deepEqual(evaluateRegistration({ username: 'alice', emailRequired: false, requester: { ip_address: '10.0.0.8' } }, data), []);
  for (const grantType of ['authorization_code', 'urn:ietf:params:oauth:grant-type:device_code', 'client_credentials'] as const) {
    const v = evaluateGrant({ grantType, scopes: ['openid'], user: { username: 'alice', can_request_admin: false }, requester: banned }, data);
    assert.deepEqual(v.map((x) => x.code), [REQUESTER_BANNED], grantType);
  }
  for (const login of ['m.login.password', 'm.login.token', 'm.login.sso'] as const) {
    assert.deepEqual(evaluateCompatLogin({ login, sessionReplaced: true, requester: banned }, data).map((v) => v.code), [REQUESTER_BANNED], login);
  }
});
