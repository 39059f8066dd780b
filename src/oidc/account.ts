// The account oidc-provider issues for: an active user, and the claims its scopes release. Used
// by the provider's own grants and by the device code grant's ID token.
import type { FindAccount } from 'oidc-provider';
import type { Sql } from '../storage/db.js';
import * as users from '../storage/users.js';

export function accountFinder(sql: Sql): FindAccount {
  return async (_ctx, sub) => {
    const user = await users.findById(sql, sub);
    if (!user || !users.isActive(user)) return undefined;
    return {
      accountId: user.id,
      async claims(_use, scope) {
        const claims: Record<string, unknown> = { sub: user.id };
        if (scope.split(' ').includes('email')) {
          const [email] = await users.verifiedEmails(sql, user.id);
          if (email) Object.assign(claims, { email, email_verified: true });
        }
        return claims as { sub: string };
      },
    };
  };
}
