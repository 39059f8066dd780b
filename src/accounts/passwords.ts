// Password hashing with versioned schemes (`passwords.schemes`): new hashes use the highest
// version, a login with an older version is rehashed. argon2id with OWASP's parameters
// (19 MiB, 2 iterations, 1 lane); argon2 runs on libuv's thread pool, off the event loop.
import argon2 from 'argon2';
import type { PasswordScheme, PasswordsConfig } from '../config/types.js';

const OWASP_ARGON2ID = { type: argon2.argon2id, memoryCost: 19 * 1024, timeCost: 2, parallelism: 1 } as const;

export interface HashedPassword {
  hash: string;
  version: number;
}

/** A scheme as loaded, except that `unicode_normalization` may be left out (off, its default). */
type Scheme = Omit<PasswordScheme, 'unicode_normalization'> & Partial<Pick<PasswordScheme, 'unicode_normalization'>>;

export class PasswordHasher {
  private readonly schemes: Scheme[];
  private dummy: Promise<string> | undefined;

  constructor(config: Omit<PasswordsConfig, 'schemes'> & { schemes: Scheme[] }) {
    this.schemes = [...config.schemes].sort((a, b) => b.version - a.version);
    if (this.schemes.length === 0) throw new Error('passwords.schemes must list at least one scheme');
    for (const s of this.schemes) {
      if (s.algorithm !== 'argon2id') {
        throw new Error(`passwords.schemes version ${s.version}: algorithm ${s.algorithm} is not supported yet (use argon2id)`);
      }
    }
  }

  get currentVersion(): number {
    return this.schemes[0].version;
  }

  private options(scheme: Scheme) {
    return { ...OWASP_ARGON2ID, ...(scheme.secret ? { secret: Buffer.from(scheme.secret) } : {}) };
  }

  /** What a scheme hashes: with `unicode_normalization` (as Synapse did), the NFKC form. */
  private input(scheme: Scheme, password: string): string {
    return scheme.unicode_normalization ? password.normalize('NFKC') : password;
  }

  async hash(password: string): Promise<HashedPassword> {
    const scheme = this.schemes[0];
    return { hash: await argon2.hash(this.input(scheme, password), this.options(scheme)), version: scheme.version };
  }

  /** Whether the password matches, and whether the stored hash should be replaced. */
  async verify(stored: HashedPassword, password: string): Promise<{ valid: boolean; needsRehash: boolean }> {
    const scheme = this.schemes.find((s) => s.version === stored.version);
    if (!scheme) return { valid: false, needsRehash: false };
    let valid = false;
    try {
      valid = await argon2.verify(stored.hash, this.input(scheme, password), scheme.secret ? { secret: Buffer.from(scheme.secret) } : {});
    } catch {
      valid = false;
    }
    const needsRehash =
      valid && (stored.version !== this.currentVersion || argon2.needsRehash(stored.hash, OWASP_ARGON2ID));
    return { valid, needsRehash };
  }

  /** Spends the time of a real verification so unknown usernames answer as slowly as known ones. */
  async verifyDummy(password: string): Promise<void> {
    this.dummy ??= argon2.hash('mauth-dummy-password', OWASP_ARGON2ID);
    await argon2.verify(await this.dummy, password).catch(() => false);
  }
}
