// The state cookie: one entry per authorization round trip this browser started, holding the
// secrets (state, nonce, PKCE verifier) that never leave it; the database holds only the state's
// hash. SameSite=None over HTTPS, so a form_post callback (a cross-site POST) still carries it;
// the state it holds is what stops a forged callback.
import type { Request, Response } from 'express';
import type { Config } from '../../config/types.js';
import { SESSION_TTL_SECONDS } from '../../storage/upstream.js';
import { cookieOptions } from '../../web/browser.js';

const COOKIE = 'mauth.upstream';
const COOKIE_PATH = '/upstream';
const MAX_PENDING = 5;

/** One authorization round trip this browser started. */
export interface Pending {
  /** upstream session id */
  s: string;
  /** provider id */
  p: string;
  /** state */
  st: string;
  /** nonce */
  n?: string;
  /** PKCE code verifier */
  v?: string;
}

function isPending(value: unknown): value is Pending {
  const v = value as Pending;
  return !!v && typeof v.s === 'string' && typeof v.p === 'string' && typeof v.st === 'string';
}

export function readPending(req: Request): Pending[] {
  const raw = req.signedCookies?.[COOKIE];
  if (typeof raw !== 'string') return [];
  try {
    const parsed = JSON.parse(raw) as unknown;
    return Array.isArray(parsed) ? parsed.filter(isPending) : [];
  } catch {
    return [];
  }
}

/** Keeps the newest entries; an empty list clears the cookie. */
export function writePending(config: Config, res: Response, list: Pending[]): void {
  const secure = new URL(config.http.public_base).protocol === 'https:';
  const options = { ...cookieOptions(config), path: COOKIE_PATH, sameSite: secure ? ('none' as const) : ('lax' as const), maxAge: SESSION_TTL_SECONDS * 1000 };
  if (list.length === 0) res.clearCookie(COOKIE, { ...options, signed: undefined, maxAge: undefined });
  else res.cookie(COOKIE, JSON.stringify(list.slice(-MAX_PENDING)), options);
}
