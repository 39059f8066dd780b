// Every session of a user in one shape, whatever its kind: OAuth 2.0 sessions (an app signed in
// through the browser), legacy sessions (`/login` of the Matrix client API) and browser sessions
// (signed in to these pages). The account page lists, shows, ends and renames them.
import type { AppContext } from '../context.js';
import { enqueueUpdateDeviceDisplayName } from '../jobs/profile-jobs.js';
import type { OidcProvider } from '../oidc/provider.js';
import * as browserSessions from '../storage/browser-sessions.js';
import * as compat from '../storage/compat.js';
import * as oauth2Sessions from '../storage/oauth2-sessions.js';

export type SessionKind = 'oauth2' | 'compat' | 'browser';
export const SESSION_KINDS: readonly SessionKind[] = ['oauth2', 'compat', 'browser'];

/** Synapse's limit on a device's display name. */
export const MAX_DEVICE_NAME_LENGTH = 100;

export interface UserSession {
  kind: SessionKind;
  id: string;
  /** The homeserver device (OAuth 2.0 sessions with a device scope, and every legacy session). */
  deviceId: string | null;
  /** The name the user gave the device, or the client's initial one. */
  humanName: string | null;
  /** The registered client's name (OAuth 2.0 sessions). */
  client?: { id: string; name: string | null; uri: string | null };
  createdAt: Date;
  lastActiveAt: Date | null;
  /** The address the client or browser was last seen at. */
  ip: string | null;
  userAgent: string | null;
  /** The browser session of this very request. */
  current: boolean;
}

async function fromOAuth2(provider: OidcProvider, s: oauth2Sessions.OAuth2Session): Promise<UserSession> {
  const client = await provider.Client.find(s.client_id);
  return {
    kind: 'oauth2',
    id: s.id,
    deviceId: s.device_id,
    humanName: s.human_name,
    client: { id: s.client_id, name: client?.clientName ?? null, uri: client?.clientUri ?? null },
    createdAt: s.created_at,
    lastActiveAt: s.last_active_at,
    ip: s.last_active_ip,
    userAgent: s.user_agent,
    current: false,
  };
}

function fromCompat(s: compat.CompatSession): UserSession {
  return {
    kind: 'compat',
    id: s.id,
    deviceId: s.device_id,
    humanName: s.human_name,
    createdAt: s.created_at,
    lastActiveAt: s.last_active_at,
    ip: s.last_active_ip,
    userAgent: s.user_agent,
    current: false,
  };
}

function fromBrowser(s: browserSessions.BrowserSessionDetails, currentId: string | undefined): UserSession {
  return {
    kind: 'browser',
    id: s.id,
    deviceId: null,
    humanName: null,
    createdAt: s.created_at,
    lastActiveAt: s.last_active_at,
    ip: s.last_active_ip ?? s.ip_address,
    userAgent: s.user_agent,
    current: s.id === currentId,
  };
}

/** Most recently used first; the current browser on top of its kind. */
export async function listUserSessions(app: AppContext, provider: OidcProvider, userId: string, currentBrowserId?: string): Promise<UserSession[]> {
  const [oauth, legacy, browsers] = await Promise.all([
    oauth2Sessions.listActiveForUser(app.sql, userId),
    compat.listActiveForUser(app.sql, userId),
    browserSessions.listActiveForUser(app.sql, userId),
  ]);
  const all = [
    ...(await Promise.all(oauth.map((s) => fromOAuth2(provider, s)))),
    ...legacy.map(fromCompat),
    ...browsers.map((s) => fromBrowser(s, currentBrowserId)),
  ];
  const seen = (s: UserSession) => (s.current ? Infinity : (s.lastActiveAt ?? s.createdAt).getTime());
  return all.sort((a, b) => seen(b) - seen(a));
}

export async function findUserSession(
  app: AppContext,
  provider: OidcProvider,
  userId: string,
  kind: SessionKind,
  id: string,
  currentBrowserId?: string,
): Promise<UserSession | undefined> {
  if (kind === 'oauth2') {
    const s = await oauth2Sessions.findLiveForUser(app.sql, userId, id);
    return s && fromOAuth2(provider, s);
  }
  if (kind === 'compat') {
    const s = await compat.findLiveForUser(app.sql, userId, id);
    return s && fromCompat(s);
  }
  const s = await browserSessions.findLiveForUser(app.sql, userId, id);
  return s && fromBrowser(s, currentBrowserId);
}

/** The live session holding a device (MSC4191 links name devices, not sessions). */
export async function findSessionByDevice(app: AppContext, userId: string, deviceId: string): Promise<{ kind: SessionKind; id: string } | undefined> {
  const oauth = await oauth2Sessions.findLiveByDevice(app.sql, userId, deviceId);
  if (oauth) return { kind: 'oauth2', id: oauth.id };
  const legacy = await compat.findLiveSessionForDevice(app.sql, userId, deviceId);
  return legacy ? { kind: 'compat', id: legacy.id } : undefined;
}

export type DeviceNameCheck = { ok: true; value: string } | { ok: false; problem: 'missing' | 'too_long' | 'control_characters' };

export function checkDeviceName(typed: string): DeviceNameCheck {
  const value = typed.trim();
  if (!value) return { ok: false, problem: 'missing' };
  if (value.length > MAX_DEVICE_NAME_LENGTH) return { ok: false, problem: 'too_long' };
  // As a display name (profile.ts); PostgreSQL cannot store a NUL at all.
  if (/\p{Cc}/u.test(value)) return { ok: false, problem: 'control_characters' };
  return { ok: true, value };
}

/**
 * Names the device of a live OAuth 2.0 or legacy session and, in the same transaction, writes
 * the job that names it on the homeserver. False when the session ended meanwhile or has no device.
 */
export async function renameDevice(app: AppContext, session: UserSession, userId: string, name: string): Promise<boolean> {
  if (session.kind === 'browser' || !session.deviceId) return false;
  const deviceId = session.deviceId;
  const kind = session.kind;
  return app.sql.begin(async (tx) => {
    const rename = kind === 'oauth2' ? oauth2Sessions.setHumanName : compat.setHumanName;
    if (!(await rename(tx, userId, session.id, name))) return false;
    await enqueueUpdateDeviceDisplayName(tx, userId, deviceId);
    return true;
  });
}
