// The compat login policy at the Matrix login API (policies/compat_login): `m.login.password`
// and `m.login.token` have no page on which the user could end sessions, so they stop at the
// hard session limit, as MAS's do. With `dangerous_hard_limit_eviction`, the least recently used
// compatibility sessions are ended instead (their devices deleted by jobs), when there are
// enough of them; otherwise the login is refused.
//
// The count and the new session are not one transaction: logins racing for the last place can
// both get in (MAS counts the same way). The limit keeps the number of sessions sane; it is not
// a quota to the unit.
import type { Request } from 'express';
import type { AppContext } from '../context.js';
import { evaluateCompatLogin } from '../policy/compat-login.js';
import { currentPolicyData } from '../policy/dynamic-data.js';
import { requesterOf } from '../policy/requester.js';
import { TOO_MANY_SESSIONS, countSessions } from '../policy/session-limit.js';
import * as compat from '../storage/compat.js';
import { leastRecentlyUsedCompatSessions } from '../storage/session-counts.js';
import type { User } from '../storage/users.js';
import { endCompatSessions } from './sessions.js';

/** Answered with 403 M_FORBIDDEN, as MAS answers a login its policy refuses. */
export const POLICY_REFUSED = 'Login denied by the policy enforced by this service.';
export const HARD_LIMIT_REACHED = 'You have reached the maximum number of sessions. Sign out of some on your account page, then try again.';

/** Ends the `count` least recently used compatibility sessions of the user; false when there are fewer. */
async function evict(app: AppContext, user: User, count: number): Promise<boolean> {
  const ids = await leastRecentlyUsedCompatSessions(app.sql, user.id, count);
  if (ids.length < count) return false;
  await endCompatSessions(app, async (tx) => {
    const ended: compat.CompatSession[] = [];
    for (const id of ids) {
      const session = await compat.finishSession(tx, id);
      if (session) ended.push(session);
    }
    return ended;
  });
  app.log.info({ user_id: user.id, compat_session_ids: ids }, 'ended the least recently used compatibility sessions to stay under the hard session limit (dangerous_hard_limit_eviction)');
  return true;
}

/** Why this login may not go on (the Matrix error's text), or undefined when it may. */
export async function compatLoginRefusal(
  app: AppContext,
  req: Request,
  input: { user: User; deviceId: string; login: 'm.login.password' | 'm.login.token' },
): Promise<string | undefined> {
  const data = await currentPolicyData(app);
  const sessionCounts = await countSessions(app.sql, input.user.id, data);
  // A login on the device of a live session replaces it (compat/sessions.ts): no session is added.
  const sessionReplaced = sessionCounts !== undefined && (await compat.findLiveSessionForDevice(app.sql, input.user.id, input.deviceId)) !== undefined;
  const violations = evaluateCompatLogin({ login: input.login, sessionReplaced, sessionCounts, requester: requesterOf(req) }, data);
  if (violations.length === 0) return undefined;
  app.log.info({ user_id: input.user.id, violations: violations.map((v) => v.msg) }, 'compatibility login refused by policy');
  const [only] = violations;
  if (violations.length > 1 || only.code !== TOO_MANY_SESSIONS) return POLICY_REFUSED;
  if (data.session_limit?.dangerous_hard_limit_eviction && (await evict(app, input.user, only.need_to_remove ?? 1))) return undefined;
  return HARD_LIMIT_REACHED;
}
