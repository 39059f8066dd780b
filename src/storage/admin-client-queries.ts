// Admin API listings of OAuth 2.0 clients (registered ones from `oidc_payloads`, static ones from
// the configuration), upstream providers and upstream links. Read-only: the tables belong to
// oidc-payloads.ts and upstream.ts.
import type postgres from 'postgres';
import type { Db } from './db.js';
import { listPage, type Fragment, type Listing, type Page, type PageRequest } from './admin-queries.js';
import type { LinkRow, ProviderRow } from './upstream.js';

// --- OAuth 2.0 clients ---

export interface ClientRow {
  id: string;
  /** oidc-provider's client metadata (the secret left out). */
  metadata: Record<string, unknown>;
  is_static: boolean;
}

export interface ClientFilter {
  kind?: 'static' | 'dynamic';
  /** Case-insensitive substrings. */
  name?: string;
  uri?: string;
  grantType?: string;
  hasActiveSessions?: boolean;
}

/**
 * Static clients are handed in (from the configuration) as JSON, so that both kinds page
 * together; a registered client never shares an id with a static one (registration draws ULIDs).
 */
export function clientsListing(db: Db, staticClients: Record<string, unknown>[], filter: ClientFilter): Listing {
  const source = db`(
    SELECT id, payload - 'client_secret' AS metadata, false AS is_static FROM oidc_payloads WHERE model = 'Client'
    UNION ALL
    SELECT c ->> 'client_id', c, true FROM jsonb_array_elements(${db.json(staticClients as postgres.JSONValue)}::jsonb) c)`;
  const where: Fragment[] = [];
  if (filter.kind) where.push(db`t.is_static = ${filter.kind === 'static'}`);
  if (filter.name !== undefined) where.push(db`strpos(lower(t.metadata ->> 'client_name'), lower(${filter.name})) > 0`);
  if (filter.uri !== undefined) where.push(db`strpos(lower(t.metadata ->> 'client_uri'), lower(${filter.uri})) > 0`);
  if (filter.grantType !== undefined) {
    where.push(db`coalesce(t.metadata -> 'grant_types', '["authorization_code"]'::jsonb) ? ${filter.grantType}`);
  }
  if (filter.hasActiveSessions !== undefined) {
    const active = db`EXISTS (SELECT 1 FROM oauth2_sessions s WHERE s.client_id = t.id AND s.finished_at IS NULL)`;
    where.push(filter.hasActiveSessions ? active : db`NOT ${active}`);
  }
  return { source, where };
}

export function listClients(db: Db, staticClients: Record<string, unknown>[], filter: ClientFilter, page: PageRequest): Promise<Page<ClientRow>> {
  return listPage<ClientRow>(db, clientsListing(db, staticClients, filter), page);
}

// --- upstream providers ---

export function providersListing(db: Db, filter: { enabled?: boolean }): Listing {
  const where: Fragment[] = [];
  if (filter.enabled !== undefined) where.push(filter.enabled ? db`t.disabled_at IS NULL` : db`t.disabled_at IS NOT NULL`);
  return { source: db`upstream_oauth_providers`, where };
}

export function listProviders(db: Db, filter: { enabled?: boolean }, page: PageRequest): Promise<Page<ProviderRow>> {
  return listPage<ProviderRow>(db, providersListing(db, filter), page);
}

// --- upstream links ---

export interface LinkFilter {
  user?: string;
  provider?: string;
  subject?: string;
  /** Case-insensitive substring. */
  humanAccountName?: string;
}

export function linksListing(db: Db, filter: LinkFilter): Listing {
  const where: Fragment[] = [];
  if (filter.user !== undefined) where.push(db`t.user_id = ${filter.user}`);
  if (filter.provider !== undefined) where.push(db`t.provider_id = ${filter.provider}`);
  if (filter.subject !== undefined) where.push(db`t.subject = ${filter.subject}`);
  if (filter.humanAccountName !== undefined) where.push(db`strpos(lower(t.human_account_name), lower(${filter.humanAccountName})) > 0`);
  return { source: db`upstream_oauth_links`, where };
}

export function listLinks(db: Db, filter: LinkFilter, page: PageRequest): Promise<Page<LinkRow>> {
  return listPage<LinkRow>(db, linksListing(db, filter), page);
}
