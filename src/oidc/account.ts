// The account oidc-provider issues for: an active user, and the claims its scopes release. Used
// by the provider's own grants and by the device code grant's ID token. During a refresh the
// account and its address come from the refresh's one read (refresh.ts).
import type { FindAccount } from 'oidc-provider';
import type { Db, Sql } from '../storage/db.js';
import * as users from '../storage/users.js';
import type { RefreshRequest } from './refresh.js';

interface Found {
  id: string;
  active: boolean;
  /** The first verified address, when already known. */
  email?: string | null;
}

async function lookUp(db: Db, sub: string): Promise<Found | undefined> {
  const user = await users.findById(db, sub);
  return user && { id: user.id, active: users.isActive(user) };
}

export function accountFinder(sql: Sql, refreshInProgress?: () => RefreshRequest | undefined): FindAccount {
  return async (_ctx, sub) => {
    const refresh = refreshInProgress?.();
    const read = refresh && (await refresh.read());
    const db = refresh ? await refresh.transaction() : sql;
    const user: Found | undefined =
      read?.user_id && read.user_id === sub ? { id: read.user_id, active: read.user_active, email: read.email } : await lookUp(db, sub);
    if (!user?.active) return undefined;
    return {
      accountId: user.id,
      async claims(_use, scope) {
        const claims: Record<string, unknown> = { sub: user.id };
        if (scope.split(' ').includes('email')) {
          const email = user.email !== undefined ? user.email : (await users.verifiedEmails(db, user.id))[0];
          if (email) Object.assign(claims, { email, email_verified: true });
        }
        return claims as { sub: string };
      },
    };
  };
}
