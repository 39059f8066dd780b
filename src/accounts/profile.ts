// The user's own profile: the display name, kept here and sent to the homeserver by a job
// written in the same transaction.
import { enqueueSetDisplayname } from '../jobs/profile-jobs.js';
import type { Sql } from '../storage/db.js';
import * as users from '../storage/users.js';

/** Synapse's limit on a display name (`MAX_DISPLAYNAME_LEN`). */
export const MAX_DISPLAY_NAME_LENGTH = 256;

export type DisplayNameProblem = 'too_long' | 'control_characters';

/** What the user typed, trimmed; an empty name clears it. */
export function checkDisplayName(typed: string): { ok: true; value: string | null } | { ok: false; problem: DisplayNameProblem } {
  const value = typed.trim();
  if (value.length > MAX_DISPLAY_NAME_LENGTH) return { ok: false, problem: 'too_long' };
  if (/\p{Cc}/u.test(value)) return { ok: false, problem: 'control_characters' };
  return { ok: true, value: value || null };
}

export async function changeDisplayName(sql: Sql, userId: string, displayName: string | null): Promise<void> {
  await sql.begin(async (tx) => {
    await users.setDisplayName(tx, userId, displayName);
    await enqueueSetDisplayname(tx, userId);
  });
}
