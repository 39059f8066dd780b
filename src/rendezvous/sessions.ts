// Opening a rendezvous session, for either protocol: the per-IP creation limit
// (`rate_limiting.rendezvous`, shared by every instance through the database; IPv6 per /64), then
// the cap on sessions open at once (`rendezvous.max_sessions`), so the rendezvous cannot serve as
// free storage.
// Sessions are named by a ULID drawn from the injected clock and randomness; only its hash is stored.
import { ulid } from 'ulid';
import { RateLimited, limit } from '../accounts/rate-limit.js';
import { secondsAfter } from '../clock.js';
import type { AppContext } from '../context.js';
import { addressBucket } from '../domain/client-address.js';
import { hashSecret } from '../domain/tokens.js';
import { createSession, type RendezvousProtocol } from '../storage/rendezvous.js';
import { RouteError } from '../web/errors.js';

/** Lifetimes from creation, as Synapse serves them (MSC4108: 60 s; MSC4388: at least 120 s). */
export const TTL_SECONDS: Record<RendezvousProtocol, number> = { msc4108: 60, msc4388: 120 };

/** The most a session holds, in bytes (both MSCs: 4 KiB). */
export const MAX_DATA_BYTES = 4096;

const ULID = /^[0-7][0-9A-HJKMNP-TV-Z]{25}$/;

/** A Matrix error answer (`errcode`, `error`) with the given status. */
export function matrixError(status: number, errcode: string, message: string, options: ConstructorParameters<typeof RouteError>[3] = {}): RouteError {
  return new RouteError(status, errcode.toLowerCase(), message, { ...options, errcode });
}

export const notFound = () => matrixError(404, 'M_NOT_FOUND', 'Not found');

/** The stored key of the session named in a URL; a name that is no ULID names nothing (404). */
export function sessionKey(id: string): string {
  const normalised = id.toUpperCase();
  if (!ULID.test(normalised)) throw notFound();
  return hashSecret(`rendezvous:${normalised}`);
}

export interface OpenedSession {
  id: string;
  now: Date;
  expiresAt: Date;
}

export async function openSession(
  ctx: AppContext,
  ip: string | undefined,
  session: { protocol: RendezvousProtocol; data: Buffer; version: string },
): Promise<OpenedSession> {
  try {
    await limit(ctx.sql, `rendezvous:ip:${addressBucket(ip)}`, ctx.config.rate_limiting.rendezvous);
  } catch (err) {
    if (!(err instanceof RateLimited)) throw err;
    throw matrixError(429, 'M_LIMIT_EXCEEDED', 'Too many rendezvous sessions created; try again later.', {
      fields: { retry_after_ms: err.retryAfterMs },
      retryAfterSeconds: Math.ceil(err.retryAfterMs / 1000),
    });
  }
  const now = ctx.clock.now();
  const id = ulid(now.getTime(), () => ctx.random.int(32) / 32);
  const expiresAt = secondsAfter(now, TTL_SECONDS[session.protocol]);
  const result = await createSession(ctx.sql, { ...session, idHash: sessionKey(id), now, expiresAt }, ctx.config.rendezvous.max_sessions);
  if (!result.created) {
    const seconds = Math.max(1, Math.ceil((result.nextExpiry.getTime() - now.getTime()) / 1000));
    ctx.log.warn({ live: result.live, max_sessions: ctx.config.rendezvous.max_sessions }, 'rendezvous: every session slot is taken; creation refused (rendezvous.max_sessions)');
    throw matrixError(503, 'M_UNKNOWN', `Too many rendezvous sessions are open; try again in ${seconds} seconds.`, { retryAfterSeconds: seconds });
  }
  return { id, now, expiresAt };
}
