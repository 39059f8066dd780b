// Browser state: the session cookie (a random secret, signed with a key derived from
// `secrets.encryption`; only its hash is stored) and the CSRF token every form carries.
// Both secrets are drawn from the application's `Randomness` (`app.random`; the system default is
// there only for callers not yet passing it), and a session's use is timed by `app.clock`.
import { createHash, timingSafeEqual } from 'node:crypto';
import cookieParser from 'cookie-parser';
import type { Request, Response } from 'express';
import { systemRandomness, type Randomness } from '../clock.js';
import type { Config } from '../config/types.js';
import type { AppContext } from '../context.js';
import * as browserSessions from '../storage/browser-sessions.js';

export const SESSION_COOKIE = 'mauth.session';
export const CSRF_COOKIE = 'mauth.csrf';

export function cookieSecret(config: Config): string {
  return createHash('sha256').update('mauth:browser-cookies:').update(config.secrets.encryption).digest('base64url');
}

export function cookieOptions(config: Config) {
  return {
    httpOnly: true,
    sameSite: 'lax' as const,
    secure: new URL(config.http.public_base).protocol === 'https:',
    path: '/',
    signed: true,
  };
}

/** Reads a signed cookie from a raw Cookie header (for code outside Express, e.g. oidc-provider checks). */
export function readSignedCookie(header: string | undefined, name: string, secret: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0 || part.slice(0, eq).trim() !== name) continue;
    const value = decodeURIComponent(part.slice(eq + 1).trim());
    const unsigned = cookieParser.signedCookie(value, secret);
    return typeof unsigned === 'string' ? unsigned : undefined;
  }
  return undefined;
}

/** `experimental.inactive_session_expiration.ttl` when it applies to browser sessions. */
export function browserSessionIdleTtl(config: Config): number | undefined {
  const expiration = config.experimental.inactive_session_expiration;
  return expiration?.expire_user_sessions ? expiration.ttl : undefined;
}

/** The browser's signed-in session; one idle past its ttl has expired and is not revived by this use. */
export async function currentSession(app: Pick<AppContext, 'sql' | 'clock' | 'config'>, req: Request) {
  const secret = req.signedCookies?.[SESSION_COOKIE];
  if (typeof secret !== 'string') return undefined;
  return browserSessions.findActive(app.sql, secret, app.clock.now(), browserSessionIdleTtl(app.config), req.ip);
}

export async function startSession(app: Pick<AppContext, 'sql' | 'config' | 'clock' | 'random'>, req: Request, res: Response, userId: string) {
  const secret = app.random.bytes(32).toString('base64url');
  await browserSessions.create(app.sql, {
    secret,
    userId,
    userAgent: req.get('user-agent')?.slice(0, 512),
    ipAddress: req.ip,
    now: app.clock.now(),
  });
  res.cookie(SESSION_COOKIE, secret, cookieOptions(app.config));
}

export function csrfToken(config: Config, req: Request, res: Response, random: Randomness = systemRandomness): string {
  const existing = req.signedCookies?.[CSRF_COOKIE];
  if (typeof existing === 'string' && existing.length > 0) return existing;
  const token = random.bytes(24).toString('base64url');
  res.cookie(CSRF_COOKIE, token, cookieOptions(config));
  // Let later calls in this request see it.
  req.signedCookies = { ...req.signedCookies, [CSRF_COOKIE]: token };
  return token;
}

export function csrfValid(req: Request): boolean {
  const cookie = req.signedCookies?.[CSRF_COOKIE];
  const field = typeof req.body?.csrf === 'string' ? req.body.csrf : '';
  if (typeof cookie !== 'string' || !cookie || cookie.length !== field.length) return false;
  return timingSafeEqual(Buffer.from(cookie), Buffer.from(field));
}

/** Where to go after a sign-in step: only same-site paths, anything else goes to the account page. */
export function safeNext(value: unknown): string {
  return typeof value === 'string' && value.startsWith('/') && !value.startsWith('//') && !value.includes('\\')
    ? value
    : '/account/';
}
