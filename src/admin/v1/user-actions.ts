// What an administrator does to an account: set its password, its admin flag, lock and unlock,
// deactivate and reactivate. Each goes through the same account services as the pages and the
// CLI, with the homeserver jobs they queue.
import { Type } from '@sinclair/typebox';
import { deactivateAccount, reactivateAccount } from '../../accounts/deactivation.js';
import { checkStrength } from '../../accounts/password-strength.js';
import * as accounts from '../../accounts/service.js';
import type { User } from '../../storage/users.js';
import { AdminError, notFound } from '../errors.js';
import { single } from '../pagination.js';
import { defineRoute, type CallContext } from '../route.js';
import { IdParams } from '../schemas.js';
import { USER, USERS_PATH, UserResponse, requireUser, userAttributes } from './users.js';

const found = (id: string, user: User | undefined): User => {
  if (!user) throw notFound(`User ID ${id}`);
  return user;
};

const answer = (user: User, action: string) => single(USER, USERS_PATH, user.id, userAttributes(user), `${USERS_PATH}/${user.id}/${action}`);

/** A POST on a user that changes it and answers with the user. */
function userAction(options: {
  action: string;
  operationId: string;
  summary: string;
  description: string;
  run(ctx: CallContext, id: string): Promise<User | undefined>;
}) {
  return defineRoute({
    method: 'post',
    path: `/users/{id}/${options.action}`,
    operationId: options.operationId,
    summary: options.summary,
    description: options.description,
    tag: 'user',
    params: IdParams,
    responses: { 200: { description: 'The user, changed', schema: UserResponse }, 404: { description: 'User ID not found' } },
    async handler(ctx, { params }) {
      return answer(found(params.id, await options.run(ctx, params.id)), options.action);
    },
  });
}

export const userActionRoutes = [
  defineRoute({
    method: 'post',
    path: '/users/{id}/set-password',
    operationId: 'setUserPassword',
    summary: 'Set the password for a user',
    tag: 'user',
    params: IdParams,
    body: Type.Object(
      {
        password: Type.String({ minLength: 1, maxLength: 4096, description: 'The password to set for the user' }),
        skip_password_check: Type.Optional(Type.Boolean({ description: 'Skip the password complexity check' })),
      },
      { title: 'SetUserPasswordRequest' },
    ),
    responses: {
      204: { description: 'Password was set' },
      400: { description: 'Password is too weak' },
      403: { description: 'Password auth is disabled in the server configuration' },
      404: { description: 'User was not found' },
      409: { description: "The user's password is kept in the directory (LDAP)" },
      429: { description: 'Too many passwords are being hashed right now (`passwords.max_queue`); retry after `Retry-After`' },
    },
    async handler({ app, deps }, { params, body }) {
      if (!app.config.passwords.enabled) throw new AdminError(403, 'Password auth is disabled');
      const user = await requireUser(app.sql, params.id);
      // A local hash would be ignored at login: say so instead of answering as if it took effect.
      if (user.password_source === 'directory') throw new AdminError(409, "The user's password is kept in the directory; change it there");
      if (!body.skip_password_check && !checkStrength(body.password, app.config.passwords.minimum_complexity, [user.username]).ok) {
        throw new AdminError(400, 'Password is too weak');
      }
      await accounts.setPassword(app.sql, deps.hasher, user.id, body.password);
      return { status: 204 };
    },
  }),
  defineRoute({
    method: 'post',
    path: '/users/{id}/set-admin',
    operationId: 'userSetAdmin',
    summary: 'Set whether a user can request admin',
    description: 'Calling this endpoint will not have any effect on existing sessions, meaning that their existing sessions will keep admin access if they were granted it.',
    tag: 'user',
    params: IdParams,
    body: Type.Object(
      { admin: Type.Boolean({ description: 'Whether the user can request admin privileges' }) },
      { title: 'UserSetAdminRequest' },
    ),
    responses: { 200: { description: 'User had admin privileges set', schema: UserResponse }, 404: { description: 'User ID not found' } },
    async handler({ app }, { params, body }) {
      return answer(found(params.id, await accounts.setCanRequestAdmin(app.sql, params.id, body.admin)), 'set-admin');
    },
  }),
  defineRoute({
    method: 'post',
    path: '/users/{id}/deactivate',
    operationId: 'deactivateUser',
    summary: 'Deactivate a user',
    description:
      'Calling this endpoint will deactivate the user, preventing them from doing any action.\nThis invalidates any existing session, and will ask the homeserver to make them leave all rooms.',
    tag: 'user',
    params: IdParams,
    body: Type.Object(
      { skip_erase: Type.Optional(Type.Boolean({ description: 'Whether to skip requesting the homeserver to GDPR-erase the user upon deactivation' })) },
      { title: 'DeactivateUserRequest' },
    ),
    bodyRequired: false,
    responses: { 200: { description: 'User was deactivated', schema: UserResponse }, 404: { description: 'User ID not found' } },
    async handler({ app }, { params, body }) {
      await requireUser(app.sql, params.id);
      // MAS's admin API: the lock is left as it is; the homeserver erases the account unless told not to.
      await deactivateAccount(app.sql, params.id, { erase: !body.skip_erase, lock: false, now: app.clock.now() });
      return answer(await requireUser(app.sql, params.id), 'deactivate');
    },
  }),
  userAction({
    action: 'reactivate',
    operationId: 'reactivateUser',
    summary: 'Reactivate a user',
    description:
      'Calling this endpoint will reactivate a deactivated user.\nThis DOES NOT unlock a locked user, which is still prevented from doing any action until it is explicitly unlocked.',
    // The homeserver hears of it through the reactivate_user job; a lock stays (MAS).
    run: ({ app }, id) => reactivateAccount(app.sql, id, { unlock: false }),
  }),
  userAction({
    action: 'lock',
    operationId: 'lockUser',
    summary: 'Lock a user',
    description:
      'Calling this endpoint will lock the user, preventing them from doing any action.\nThis DOES NOT invalidate any existing session, meaning that all their existing sessions will work again as soon as they get unlocked.',
    run: ({ app }, id) => accounts.setLocked(app.sql, id, true),
  }),
  userAction({
    action: 'unlock',
    operationId: 'unlockUser',
    summary: 'Unlock a user',
    description:
      'Calling this endpoint will lift restrictions on user actions that had imposed by locking.\nThis DOES NOT reactivate a deactivated user, which will remain unavailable until it is explicitly reactivated.',
    run: ({ app }, id) => accounts.setLocked(app.sql, id, false),
  }),
];
