// Session limits as MAS's authorization_grant and compat_login policies apply them.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { evaluateGrant } from './authorization-grant.js';
import { evaluateCompatLogin } from './compat-login.js';
import { TOO_MANY_SESSIONS, sessionLimitViolation } from './session-limit.js';
import { policyData } from './test-data.js';

const limited = policyData({}, { session_limit: { soft_limit: 3, hard_limit: 5 } });
const counts = (total: number) => ({ total, oauth2: total, compat: 0, personal: 0 });
const user = { username: 'alice', can_request_admin: false };

test('a limit applies once the user has that many sessions, and says how many must end', () => {
  assert.equal(sessionLimitViolation(counts(2), limited, 'soft_limit', 'm'), undefined);
  assert.deepEqual(sessionLimitViolation(counts(3), limited, 'soft_limit', 'm'), { code: TOO_MANY_SESSIONS, msg: 'm', need_to_remove: 1 });
  assert.equal(sessionLimitViolation(counts(7), limited, 'soft_limit', 'm')?.need_to_remove, 5);
  assert.equal(sessionLimitViolation(counts(4), limited, 'hard_limit', 'm'), undefined);
  assert.equal(sessionLimitViolation(counts(5), limited, 'hard_limit', 'm')?.need_to_remove, 1);
  assert.equal(sessionLimitViolation(counts(100), policyData(), 'soft_limit', 'm'), undefined, 'no session_limit, no limit');
});

test('users above max_session_threshold are left alone', () => {
  const data = policyData({}, { session_limit: { soft_limit: 2, hard_limit: 3, max_session_threshold: 10 } });
  assert.equal(sessionLimitViolation(counts(10), data, 'hard_limit', 'm')?.need_to_remove, 8);
  assert.equal(sessionLimitViolation(counts(11), data, 'hard_limit', 'm'), undefined);
});

test('the authorization grant stops at the soft limit, when a user is signing in', () => {
  const grant = (total?: number) =>
    evaluateGrant({ grantType: 'authorization_code', scopes: ['openid'], user, requester: {}, sessionCounts: total === undefined ? undefined : counts(total) }, limited);
  assert.deepEqual(grant(2), []);
  assert.deepEqual(grant(3), [{ code: TOO_MANY_SESSIONS, msg: 'user has too many active sessions', need_to_remove: 1 }]);
  assert.deepEqual(grant(undefined), [], 'client_credentials and the like have no sessions to count');
});

test('compat login: m.login.sso stops at the soft limit, m.login.password and m.login.token at the hard one', () => {
  const compat = (login: 'm.login.password' | 'm.login.token' | 'm.login.sso', total: number, sessionReplaced = false) =>
    evaluateCompatLogin({ login, sessionReplaced, sessionCounts: counts(total), requester: {} }, limited);
  assert.deepEqual(compat('m.login.sso', 2), []);
  assert.deepEqual(compat('m.login.sso', 3).map((v) => [v.code, v.need_to_remove]), [[TOO_MANY_SESSIONS, 1]]);
  for (const login of ['m.login.password', 'm.login.token'] as const) {
    assert.deepEqual(compat(login, 4), [], login);
    assert.deepEqual(compat(login, 5), [{ code: TOO_MANY_SESSIONS, msg: 'user has too many active sessions (hard limit)', need_to_remove: 1 }], login);
    assert.deepEqual(compat(login, 9, true), [], `${login} replacing the session on its device adds none`);
  }
});
