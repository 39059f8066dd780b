// Password hashing with versioned schemes (`passwords.schemes`), as MAS configures them: each
// scheme has an algorithm (argon2id, bcrypt or pbkdf2), an optional pepper (`secret`) and
// optional NFKC normalisation. A stored hash is verified by the scheme of its version; new hashes
// use the highest version, and a login with an older version (or older parameters) is rehashed.
//
// - argon2id: OWASP's parameters (19 MiB, 2 iterations, 1 lane), MAS's defaults; the pepper is
//   argon2's secret input. Runs on libuv's thread pool.
// - bcrypt: the pepper's bytes are appended to the password's (Synapse's `password_config.pepper`
//   and MAS do this); cost `cost`, default 12. Runs on worker threads (bcrypt.ts).
// - pbkdf2: PHC strings `$pbkdf2-sha256$i=…,l=…$salt$hash` (salt and hash in unpadded base64),
//   pepper appended; new hashes use HMAC-SHA-256, 600,000 rounds, a 16-byte salt and 32 bytes of
//   output (MAS's defaults). Runs on libuv's thread pool.
//
// Every hash and verification (the dummy one for unknown users too, so that a full pool answers
// the same for every name) waits for a slot of one bounded pool (hash-pool.ts:
// `passwords.max_concurrency`, `passwords.max_queue`); a full queue throws PasswordsBusy.
import argon2 from 'argon2';
import { pbkdf2, randomBytes, timingSafeEqual } from 'node:crypto';
import { promisify } from 'node:util';
import type { PasswordScheme, PasswordsConfig } from '../config/types.js';
import { bcryptCompare, bcryptCost, bcryptHash } from './bcrypt.js';
import { DEFAULT_QUEUE_PER_SLOT, defaultHashConcurrency, forNoRequest, HashPool } from './hash-pool.js';

const OWASP_ARGON2ID = { type: argon2.argon2id, memoryCost: 19 * 1024, timeCost: 2, parallelism: 1 } as const;
const DEFAULT_BCRYPT_COST = 12;
const PBKDF2 = { digest: 'sha256', rounds: 600_000, saltBytes: 16, length: 32 } as const;
const PBKDF2_DIGESTS: Record<string, string> = { 'pbkdf2-sha256': 'sha256', 'pbkdf2-sha512': 'sha512', pbkdf2: 'sha1' };
const PBKDF2_MIN_BYTES = 16;
const derive = promisify(pbkdf2);

export interface HashedPassword {
  hash: string;
  version: number;
}

/** A scheme as loaded, except that the keys with defaults may be left out. */
type Scheme = Pick<PasswordScheme, 'version' | 'algorithm'> & Partial<Pick<PasswordScheme, 'unicode_normalization' | 'cost' | 'secret'>>;

const unpadded = (bytes: Buffer) => bytes.toString('base64').replace(/=+$/, '');

/** `$pbkdf2-sha256$i=600000,l=32$<salt>$<hash>` → its parts, or undefined when it is not one. */
function parsePbkdf2(hash: string): { digest: string; rounds: number; salt: Buffer; derived: Buffer } | undefined {
  const match = /^\$(pbkdf2(?:-sha256|-sha512)?)\$i=(\d+)(?:,l=(\d+))?\$([A-Za-z0-9+/.]+)\$([A-Za-z0-9+/.]+)$/.exec(hash);
  if (!match) return undefined;
  const derived = Buffer.from(match[5], 'base64');
  if (match[3] !== undefined && Number(match[3]) !== derived.length) return undefined;
  // A short (or empty) key would match many (or all) passwords: such a hash fails closed.
  if (derived.length < PBKDF2_MIN_BYTES) return undefined;
  return { digest: PBKDF2_DIGESTS[match[1]], rounds: Number(match[2]), salt: Buffer.from(match[4], 'base64'), derived };
}

/** The keys of `passwords` the hasher reads; the pool's are optional (their defaults follow the cores). */
export type HasherConfig = Partial<Omit<PasswordsConfig, 'schemes'>> & { schemes: Scheme[] };

export class PasswordHasher {
  private readonly schemes: Scheme[];
  private dummy: Promise<HashedPassword> | undefined;
  /** Where every hash and verification runs. */
  readonly pool: HashPool;

  constructor(config: HasherConfig) {
    this.schemes = [...config.schemes].sort((a, b) => b.version - a.version);
    if (this.schemes.length === 0) throw new Error('passwords.schemes must list at least one scheme');
    const concurrency = config.max_concurrency ?? defaultHashConcurrency();
    this.pool = new HashPool({ concurrency, maxQueue: config.max_queue ?? DEFAULT_QUEUE_PER_SLOT * concurrency });
  }

  get currentVersion(): number {
    return this.schemes[0].version;
  }

  /** The scheme of a version, if configured (an importer checks hashes against it). */
  scheme(version: number): Scheme | undefined {
    return this.schemes.find((s) => s.version === version);
  }

  /** What a scheme hashes: with `unicode_normalization` (as Synapse did), the NFKC form. */
  private input(scheme: Scheme, password: string): string {
    return scheme.unicode_normalization ? password.normalize('NFKC') : password;
  }

  /** The password with the pepper appended (bcrypt and pbkdf2), as one string of the same UTF-8 bytes. */
  private peppered(scheme: Scheme, password: string): string {
    return this.input(scheme, password) + (scheme.secret ?? '');
  }

  private argon2Options(scheme: Scheme) {
    return { ...OWASP_ARGON2ID, ...(scheme.secret ? { secret: Buffer.from(scheme.secret) } : {}) };
  }

  private async hashWith(scheme: Scheme, password: string): Promise<string> {
    switch (scheme.algorithm) {
      case 'argon2id':
        return argon2.hash(this.input(scheme, password), this.argon2Options(scheme));
      case 'bcrypt':
        return bcryptHash(this.peppered(scheme, password), scheme.cost ?? DEFAULT_BCRYPT_COST);
      case 'pbkdf2': {
        const salt = randomBytes(PBKDF2.saltBytes);
        const derived = await derive(Buffer.from(this.peppered(scheme, password)), salt, PBKDF2.rounds, PBKDF2.length, PBKDF2.digest);
        return `$pbkdf2-sha256$i=${PBKDF2.rounds},l=${PBKDF2.length}$${unpadded(salt)}$${unpadded(derived)}`;
      }
    }
  }

  private async matches(scheme: Scheme, hash: string, password: string): Promise<boolean> {
    switch (scheme.algorithm) {
      case 'argon2id':
        return argon2.verify(hash, this.input(scheme, password), scheme.secret ? { secret: Buffer.from(scheme.secret) } : {});
      case 'bcrypt':
        return bcryptCost(hash) !== undefined && bcryptCompare(this.peppered(scheme, password), hash);
      case 'pbkdf2': {
        const parsed = parsePbkdf2(hash);
        if (!parsed) return false;
        const derived = await derive(Buffer.from(this.peppered(scheme, password)), parsed.salt, parsed.rounds, parsed.derived.length, parsed.digest);
        return timingSafeEqual(derived, parsed.derived);
      }
    }
  }

  /** Whether a hash of the current scheme was made with older parameters than it has now. */
  private outdated(scheme: Scheme, hash: string): boolean {
    switch (scheme.algorithm) {
      case 'argon2id':
        return argon2.needsRehash(hash, OWASP_ARGON2ID);
      case 'bcrypt':
        return bcryptCost(hash) !== (scheme.cost ?? DEFAULT_BCRYPT_COST);
      case 'pbkdf2': {
        const parsed = parsePbkdf2(hash);
        return !parsed || parsed.digest !== PBKDF2.digest || parsed.rounds < PBKDF2.rounds;
      }
    }
  }

  /** A hash of the password with the current scheme. Throws PasswordsBusy when the pool is full. */
  async hash(password: string): Promise<HashedPassword> {
    const scheme = this.schemes[0];
    return { hash: await this.pool.run(() => this.hashWith(scheme, password)), version: scheme.version };
  }

  /**
   * Whether the password matches, and whether the stored hash should be replaced. A malformed
   * hash does not match; a full pool throws PasswordsBusy (never "does not match").
   */
  async verify(stored: HashedPassword, password: string): Promise<{ valid: boolean; needsRehash: boolean }> {
    const scheme = this.scheme(stored.version);
    if (!scheme) return { valid: false, needsRehash: false };
    const valid = await this.pool.run(() => this.matches(scheme, stored.hash, password).catch(() => false));
    const needsRehash = valid && (stored.version !== this.currentVersion || this.outdated(scheme, stored.hash));
    return { valid, needsRehash };
  }

  /**
   * Spends the time of a real verification so unknown usernames answer as slowly as known ones,
   * in the same pool: when it is full, this throws PasswordsBusy as a real verification would.
   */
  async verifyDummy(password: string): Promise<void> {
    // Shared by every request waiting for it: made for none of them, so that the one that asked
    // first leaving does not fail the others.
    const made = (this.dummy ??= forNoRequest(() => this.hash('mauth-dummy-password')));
    let dummy: HashedPassword;
    try {
      dummy = await made;
    } catch (err) {
      // A full pool (or a failure) must not be remembered as the dummy hash.
      if (this.dummy === made) this.dummy = undefined;
      throw err;
    }
    await this.verify(dummy, password);
  }
}

