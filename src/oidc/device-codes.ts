// The device authorization grant's codes (RFC 8628 as MAS serves it): issuing a device code and
// the user code a person types on /link, finding a grant by that code, and the browser's
// decision. Approving makes the oidc-provider grant the device's tokens will belong to, so that
// ending the user's sessions (a password reset, an admin) also withdraws an approval that the
// device has not exchanged yet.
import { createHmac, timingSafeEqual } from 'node:crypto';
import { ulid } from 'ulid';
import { secondsAfter } from '../clock.js';
import type { AppContext } from '../context.js';
import { hashSecret, randomAlphanumeric } from '../domain/tokens.js';
import * as deviceCodes from '../storage/device-codes.js';
import type { OidcProvider } from './provider.js';

export type { DeviceGrant } from '../storage/device-codes.js';

export const DEVICE_CODE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';
/** MAS's lifetime of a device code and its user code. */
export const DEVICE_CODE_TTL_SECONDS = 1200;
/** MAS's polling interval, which the token endpoint enforces with `slow_down`. */
export const POLL_INTERVAL_SECONDS = 5;

const USER_CODE_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
const USER_CODE_LENGTH = 6;
const DEVICE_CODE_LENGTH = 32;
/** Draws before giving up when user codes keep colliding with stored ones (about 1 in 2^31 each). */
const ISSUE_ATTEMPTS = 5;

/**
 * A user code has about 31 bits: its plain SHA-256 would fall to a dictionary of every code, so
 * it is stored keyed with `secrets.encryption`, as mailed codes are.
 */
function userCodeHash(app: AppContext, userCode: string): string {
  return createHmac('sha256', Buffer.from(app.config.secrets.encryption, 'hex')).update(`device-user-code:${userCode}`).digest('base64url');
}

/** What a person typed, as a user code: case, spaces and dashes do not matter. */
export function normalizeUserCode(input: string): string | undefined {
  const code = input.replace(/[\s-]/g, '').toUpperCase();
  return code.length === USER_CODE_LENGTH && [...code].every((c) => USER_CODE_ALPHABET.includes(c)) ? code : undefined;
}

export function deviceCodeHash(deviceCode: string): string {
  return hashSecret(deviceCode);
}

export interface IssuedDeviceCode {
  deviceCode: string;
  userCode: string;
  expiresIn: number;
}

export async function issueDeviceCode(
  app: AppContext,
  request: { clientId: string; scope: string; userAgent?: string; ipAddress?: string },
): Promise<IssuedDeviceCode> {
  for (let attempt = 0; attempt < ISSUE_ATTEMPTS; attempt += 1) {
    const deviceCode = randomAlphanumeric(DEVICE_CODE_LENGTH, app.random);
    let userCode = '';
    for (let i = 0; i < USER_CODE_LENGTH; i += 1) userCode += USER_CODE_ALPHABET[app.random.int(USER_CODE_ALPHABET.length)];
    const now = app.clock.now();
    const stored = await deviceCodes.insert(app.sql, {
      id: ulid(),
      clientId: request.clientId,
      scope: request.scope,
      deviceCodeHash: deviceCodeHash(deviceCode),
      userCodeHash: userCodeHash(app, userCode),
      createdAt: now,
      expiresAt: secondsAfter(now, DEVICE_CODE_TTL_SECONDS),
      userAgent: request.userAgent?.slice(0, 512) ?? null,
      ipAddress: request.ipAddress ?? null,
    });
    if (stored) return { deviceCode, userCode, expiresIn: DEVICE_CODE_TTL_SECONDS };
  }
  throw new Error('could not draw an unused user code');
}

/** The grant a typed code names, while it still waits for a decision. */
export async function findPendingByUserCode(app: AppContext, input: string): Promise<deviceCodes.DeviceGrant | undefined> {
  const code = normalizeUserCode(input);
  return code ? deviceCodes.findPendingByUserCode(app.sql, userCodeHash(app, code), app.clock.now()) : undefined;
}

/**
 * The user code of `grant` when `input` is it (normalized as on /link), for the consent page to
 * show next to the device: only hashes are stored, so the page can only show a code it was
 * given (in its URL, by /link) and checked here.
 */
export function confirmedUserCode(app: AppContext, grant: deviceCodes.DeviceGrant, input: unknown): string | undefined {
  const code = typeof input === 'string' ? normalizeUserCode(input) : undefined;
  if (!code) return undefined;
  const expected = Buffer.from(grant.user_code_hash);
  const given = Buffer.from(userCodeHash(app, code));
  return expected.length === given.length && timingSafeEqual(expected, given) ? code : undefined;
}

export async function findDeviceGrant(app: AppContext, id: string): Promise<deviceCodes.DeviceGrant | undefined> {
  return deviceCodes.findById(app.sql, id);
}

export function isExpired(app: AppContext, grant: deviceCodes.DeviceGrant): boolean {
  return grant.expires_at <= app.clock.now();
}

export interface Decider {
  userId: string;
  browserSessionId: string;
}

/**
 * Approves a pending grant: the device will get tokens for `grant.scope` as `decider.userId`.
 * False when it was decided or expired meanwhile (the grant made for it is then dropped).
 */
export async function approveDeviceGrant(app: AppContext, provider: OidcProvider, grant: deviceCodes.DeviceGrant, decider: Decider): Promise<boolean> {
  const consented = new provider.Grant({ accountId: decider.userId, clientId: grant.client_id });
  consented.addOIDCScope(grant.scope);
  const grantId = await consented.save();
  const approved = await deviceCodes.fulfill(app.sql, grant.id, { ...decider, grantId }, app.clock.now());
  if (!approved) await provider.Grant.adapter.destroy(grantId);
  return approved;
}

/**
 * After an exchange whose answer was a server error, not tokens: the oidc-provider grant it used
 * goes (with whatever was issued under it) and a new one takes its place, so that the device's
 * next poll is served as MAS serves it after a rolled-back exchange. False when that was not
 * possible (the row moved on).
 */
export async function reopenDeviceGrant(app: AppContext, provider: OidcProvider, exchanged: deviceCodes.DeviceGrant): Promise<boolean> {
  if (!exchanged.grant_id || !exchanged.user_id) return false;
  await provider.Grant.adapter.destroy(exchanged.grant_id);
  const replacement = new provider.Grant({ accountId: exchanged.user_id, clientId: exchanged.client_id });
  replacement.addOIDCScope(exchanged.scope);
  const grantId = await replacement.save();
  const reopened = await deviceCodes.reopen(app.sql, exchanged.id, exchanged.grant_id, grantId);
  if (!reopened) await provider.Grant.adapter.destroy(grantId);
  return reopened;
}

export async function rejectDeviceGrant(app: AppContext, grant: deviceCodes.DeviceGrant, decider: Decider): Promise<boolean> {
  return deviceCodes.reject(app.sql, grant.id, decider, app.clock.now());
}
