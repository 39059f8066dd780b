// Opaque token format shared with MAS: `<prefix>_<30 random alphanumerics>_<checksum>`, where the
// checksum is the CRC-32 (ISO-HDLC) of `<prefix>_<random>` written in base62, least significant
// digit first, left-padded with '0' to six characters. Tokens are never stored: only their SHA-256.
// The random part is drawn from the caller's source (the application's `Randomness`).
import { createHash } from 'node:crypto';
import { crc32 } from 'node:zlib';

export const TOKEN_PREFIXES = {
  accessToken: 'mat',
  refreshToken: 'mar',
  compatAccessToken: 'mct',
  compatRefreshToken: 'mcr',
  personalToken: 'mpt',
} as const;

export type TokenKind = keyof typeof TOKEN_PREFIXES;

const ALPHANUMERIC = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

/** Uniformly distributed integers in [0, max), e.g. from the CSPRNG. */
export interface RandomIntegers {
  int(max: number): number;
}

/** Random alphanumeric string (uniform when `random` is). */
export function randomAlphanumeric(length: number, random: RandomIntegers): string {
  let out = '';
  for (let i = 0; i < length; i += 1) out += ALPHANUMERIC[random.int(ALPHANUMERIC.length)];
  return out;
}

export function checksum(base: string): string {
  let num = crc32(base) >>> 0;
  let digits = '';
  while (num > 0) {
    digits += BASE62[num % 62];
    num = Math.floor(num / 62);
  }
  return digits.padStart(6, '0');
}

export function generateToken(kind: TokenKind, random: RandomIntegers): string {
  const base = `${TOKEN_PREFIXES[kind]}_${randomAlphanumeric(30, random)}`;
  return `${base}_${checksum(base)}`;
}

/**
 * Synapse's own access tokens (`syt_…`, or a macaroon from before it used that format) and
 * refresh tokens (`syr_…`), carried over by a migration (`mauth syn2mas migrate`): legacy
 * sessions, checked only by their hash, as MAS does.
 */
function synapseTokenKind(token: string): TokenKind | undefined {
  if (token.startsWith('syt_')) return 'compatAccessToken';
  if (token.startsWith('syr_')) return 'compatRefreshToken';
  // A macaroon is base64url; its first packet (after a 4-hex-digit length) is its location.
  if (/^[A-Za-z0-9_-]+=*$/.test(token) && Buffer.from(token, 'base64url').subarray(4, 13).toString('latin1') === 'location ') {
    return 'compatAccessToken';
  }
  return undefined;
}

/** The kind of a well-formed token with a valid checksum (or of a token Synapse issued), or undefined. */
export function tokenKind(token: string): TokenKind | undefined {
  return ownTokenKind(token) ?? synapseTokenKind(token);
}

function ownTokenKind(token: string): TokenKind | undefined {
  const parts = token.split('_');
  if (parts.length !== 3) return undefined;
  const [prefix, random, crc] = parts;
  if (prefix.length !== 3 || random.length !== 30 || crc.length !== 6) return undefined;
  const kind = (Object.keys(TOKEN_PREFIXES) as TokenKind[]).find((k) => TOKEN_PREFIXES[k] === prefix);
  if (!kind) return undefined;
  return checksum(`${prefix}_${random}`) === crc ? kind : undefined;
}

/** The at-rest form of any bearer secret (tokens, codes, tickets, cookies). */
export function hashSecret(value: string): string {
  return createHash('sha256').update(value).digest('base64url');
}
