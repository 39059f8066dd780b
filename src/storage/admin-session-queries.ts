// Admin API listings of sessions: browser sessions (`user-sessions`), OAuth 2.0 sessions and
// compatibility sessions, with MAS's filters. The tables belong to browser-sessions.ts,
// oauth2-sessions.ts and compat.ts; this module only reads them.
import type { Db } from './db.js';
import { listPage, type Fragment, type Listing, type Page, type PageRequest } from './admin-queries.js';

/** The filters every kind of session shares. */
export interface SessionFilter {
  user?: string;
  status?: 'active' | 'finished';
  createdBefore?: Date;
  createdAfter?: Date;
  lastActiveBefore?: Date;
  lastActiveAfter?: Date;
}

function common(db: Db, filter: SessionFilter): Fragment[] {
  const where: Fragment[] = [];
  if (filter.user !== undefined) where.push(db`t.user_id = ${filter.user}`);
  if (filter.status === 'active') where.push(db`t.finished_at IS NULL`);
  if (filter.status === 'finished') where.push(db`t.finished_at IS NOT NULL`);
  if (filter.createdBefore) where.push(db`t.created_at < ${filter.createdBefore}`);
  if (filter.createdAfter) where.push(db`t.created_at > ${filter.createdAfter}`);
  if (filter.lastActiveBefore) where.push(db`t.last_active_at < ${filter.lastActiveBefore}`);
  if (filter.lastActiveAfter) where.push(db`t.last_active_at > ${filter.lastActiveAfter}`);
  return where;
}

// --- browser sessions ---

export interface UserSessionRow {
  id: string;
  user_id: string;
  user_agent: string | null;
  ip_address: string | null;
  created_at: Date;
  last_active_at: Date | null;
  finished_at: Date | null;
}

export function userSessionsListing(db: Db, filter: SessionFilter): Listing {
  return {
    source: db`(SELECT id, user_id, user_agent, ip_address, created_at, last_active_at, finished_at FROM browser_sessions)`,
    where: common(db, filter),
  };
}

export function listUserSessions(db: Db, filter: SessionFilter, page: PageRequest): Promise<Page<UserSessionRow>> {
  return listPage<UserSessionRow>(db, userSessionsListing(db, filter), page);
}

// --- compatibility sessions ---

export interface CompatSessionRow {
  id: string;
  user_id: string;
  device_id: string;
  user_agent: string | null;
  created_at: Date;
  last_active_at: Date | null;
  finished_at: Date | null;
}

export interface CompatSessionFilter extends SessionFilter {
  /** Legacy sessions are not tied to a browser session in Mauth: any value matches nothing. */
  userSession?: string;
}

export function compatSessionsListing(db: Db, filter: CompatSessionFilter): Listing {
  const where = common(db, filter);
  if (filter.userSession !== undefined) where.push(db`FALSE`);
  return {
    source: db`(SELECT id, user_id, device_id, user_agent, created_at, last_active_at, finished_at FROM compat_sessions)`,
    where,
  };
}

export function listCompatSessions(db: Db, filter: CompatSessionFilter, page: PageRequest): Promise<Page<CompatSessionRow>> {
  return listPage<CompatSessionRow>(db, compatSessionsListing(db, filter), page);
}

// --- OAuth 2.0 sessions ---

/** A row of `oauth2_sessions`, as its owner (storage/oauth2-sessions.ts) describes it. */
export type { OAuth2Session as OAuth2SessionRow } from './oauth2-sessions.js';
import type { OAuth2Session as OAuth2SessionRow } from './oauth2-sessions.js';

export interface OAuth2SessionFilter extends SessionFilter {
  /** Sessions of any of these clients. */
  clients?: string[];
  /** `static`: clients of the configuration (their ids given in `staticClients`); `dynamic`: the others. */
  clientKind?: 'static' | 'dynamic';
  staticClients?: string[];
  /** OAuth 2.0 sessions are not tied to a browser session in Mauth: any value matches nothing. */
  userSession?: string;
  /** Sessions granted every one of these scopes. */
  scopes?: string[];
}

export function oauth2SessionsListing(db: Db, filter: OAuth2SessionFilter): Listing {
  const where = common(db, filter);
  if (filter.clients?.length) where.push(db`t.client_id = ANY(${db.array(filter.clients)}::text[])`);
  if (filter.clientKind) {
    const statics = db`t.client_id = ANY(${db.array(filter.staticClients ?? [])}::text[])`;
    where.push(filter.clientKind === 'static' ? statics : db`NOT (${statics})`);
  }
  if (filter.userSession !== undefined) where.push(db`FALSE`);
  if (filter.scopes?.length) where.push(db`string_to_array(t.scope, ' ') @> ${db.array(filter.scopes)}::text[]`);
  return { source: db`oauth2_sessions`, where };
}

export function listOAuth2Sessions(db: Db, filter: OAuth2SessionFilter, page: PageRequest): Promise<Page<OAuth2SessionRow>> {
  return listPage<OAuth2SessionRow>(db, oauth2SessionsListing(db, filter), page);
}
