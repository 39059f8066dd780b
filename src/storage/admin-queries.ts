// Paged listings for the admin API: keyset pagination over ULID ids (MAS's `page[first]`,
// `page[last]`, `page[before]`, `page[after]`), filters as SQL fragments with bound parameters.
// The listings of each resource live beside this core (admin-*-queries.ts); what they read
// belongs to the modules owning those tables, which keep every write.
//
// Ids are compared and ordered byte-wise (COLLATE "C"): ULIDs sort by time that way whatever
// collation the database was created with.
import type postgres from 'postgres';
import type { Db } from './db.js';
import type { User, UserEmail } from './users.js';

export type Fragment = postgres.Fragment;

export interface PageRequest {
  direction: 'forward' | 'backward';
  count: number;
  before?: string;
  after?: string;
}

export interface Page<T> {
  /** Ascending by id, whichever the direction. */
  items: T[];
  hasNextPage: boolean;
  hasPreviousPage: boolean;
}

/** A listing: rows of `source` (a table or a parenthesised SELECT, aliased `t`) meeting every condition. */
export interface Listing {
  source: Fragment;
  where: Fragment[];
}

function all(db: Db, conditions: Fragment[]): Fragment {
  return conditions.reduce<Fragment>((acc, c) => db`${acc} AND (${c})`, db`TRUE`);
}

async function exists(db: Db, listing: Listing, extra: Fragment): Promise<boolean> {
  const [row] = await db<{ found: boolean }[]>`
    SELECT EXISTS (SELECT 1 FROM ${listing.source} t WHERE ${all(db, [...listing.where, extra])}) AS found`;
  return row.found;
}

export async function listPage<T extends { id: string }>(db: Db, listing: Listing, page: PageRequest): Promise<Page<T>> {
  const cursor: Fragment[] = [];
  if (page.after !== undefined) cursor.push(db`t.id COLLATE "C" > ${page.after}`);
  if (page.before !== undefined) cursor.push(db`t.id COLLATE "C" < ${page.before}`);
  const where = all(db, [...listing.where, ...cursor]);
  const forward = page.direction === 'forward';
  const rows = forward
    ? await db<T[]>`SELECT t.* FROM ${listing.source} t WHERE ${where} ORDER BY t.id COLLATE "C" ASC LIMIT ${page.count + 1}`
    : await db<T[]>`SELECT t.* FROM ${listing.source} t WHERE ${where} ORDER BY t.id COLLATE "C" DESC LIMIT ${page.count + 1}`;
  const more = rows.length > page.count;
  const items = rows.slice(0, page.count);
  if (!forward) items.reverse();
  // The other side: whether anything lies beyond the cursor the page started from.
  const beyond = forward
    ? page.after !== undefined && (await exists(db, listing, db`t.id COLLATE "C" <= ${page.after}`))
    : page.before !== undefined && (await exists(db, listing, db`t.id COLLATE "C" >= ${page.before}`));
  return forward ? { items, hasNextPage: more, hasPreviousPage: beyond } : { items, hasNextPage: beyond, hasPreviousPage: more };
}

export async function countRows(db: Db, listing: Listing): Promise<number> {
  const [row] = await db<{ count: number }[]>`SELECT count(*)::int AS count FROM ${listing.source} t WHERE ${all(db, listing.where)}`;
  return row.count;
}

/** One row of a listing by id. */
export async function findOne<T extends object>(db: Db, listing: Listing, id: string): Promise<T | undefined> {
  const [row] = await db<T[]>`SELECT t.* FROM ${listing.source} t WHERE ${all(db, [...listing.where, db`t.id = ${id}`])}`;
  return row;
}

// --- users ---

export interface UserFilter {
  admin?: boolean;
  /** Mauth has no guest accounts: `true` matches nobody. */
  legacyGuest?: boolean;
  /** A substring of the username (compared lower-case, as usernames are stored). */
  search?: string;
  status?: 'active' | 'locked' | 'deactivated';
  activeOAuth2Clients?: string[];
  hasActiveOAuth2Session?: boolean;
  hasActiveCompatSession?: boolean;
}

export function usersListing(db: Db, filter: UserFilter): Listing {
  const where: Fragment[] = [];
  if (filter.admin !== undefined) where.push(db`t.can_request_admin = ${filter.admin}`);
  if (filter.legacyGuest === true) where.push(db`FALSE`);
  if (filter.search !== undefined) where.push(db`strpos(t.username, ${filter.search.toLowerCase()}) > 0`);
  if (filter.status === 'active') where.push(db`t.locked_at IS NULL AND t.deactivated_at IS NULL`);
  // As MAS: a deactivated account counts as locked.
  if (filter.status === 'locked') where.push(db`t.locked_at IS NOT NULL OR t.deactivated_at IS NOT NULL`);
  if (filter.status === 'deactivated') where.push(db`t.deactivated_at IS NOT NULL`);
  if (filter.activeOAuth2Clients?.length) {
    where.push(db`EXISTS (SELECT 1 FROM oauth2_sessions s WHERE s.user_id = t.id AND s.finished_at IS NULL
                          AND s.client_id = ANY(${db.array(filter.activeOAuth2Clients)}::text[]))`);
  }
  if (filter.hasActiveOAuth2Session !== undefined) {
    const active = db`EXISTS (SELECT 1 FROM oauth2_sessions s WHERE s.user_id = t.id AND s.finished_at IS NULL)`;
    where.push(filter.hasActiveOAuth2Session ? active : db`NOT ${active}`);
  }
  if (filter.hasActiveCompatSession !== undefined) {
    const active = db`EXISTS (SELECT 1 FROM compat_sessions s WHERE s.user_id = t.id AND s.finished_at IS NULL)`;
    where.push(filter.hasActiveCompatSession ? active : db`NOT ${active}`);
  }
  return { source: db`users`, where };
}

export function listUsers(db: Db, filter: UserFilter, page: PageRequest): Promise<Page<User>> {
  return listPage<User>(db, usersListing(db, filter), page);
}

// --- user e-mails ---

export interface UserEmailFilter {
  user?: string;
  /** Compared as addresses are (ASCII letters without case). */
  emailKey?: string;
}

export function userEmailsListing(db: Db, filter: UserEmailFilter): Listing {
  const where: Fragment[] = [];
  if (filter.user !== undefined) where.push(db`t.user_id = ${filter.user}`);
  if (filter.emailKey !== undefined) where.push(db`t.email_key = ${filter.emailKey}`);
  return { source: db`user_emails`, where };
}

export function listUserEmails(db: Db, filter: UserEmailFilter, page: PageRequest): Promise<Page<UserEmail>> {
  return listPage<UserEmail>(db, userEmailsListing(db, filter), page);
}
