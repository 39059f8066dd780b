// Ids for the rows a migration writes: ULIDs whose time part is when the thing was created (a
// user's creation time, say), as Mauth's own ids are. The `ulid` package draws its random part
// one character at a time from the CSPRNG, which costs minutes for a million rows; here it comes
// from one buffer of random bytes at a time. MAS's ids are ULIDs stored as UUIDs: `fromUuid`
// gives back the ULID that MAS showed (a user's `sub`, a client's `client_id`).
import { randomBytes } from 'node:crypto';
import { encodeTime, uuidToULID } from 'ulid';

const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
const RANDOM_CHARS = 16;

export class IdFactory {
  private pool = Buffer.alloc(0);
  private offset = 0;

  /** A new ULID for something created at `at`. */
  next(at: Date): string {
    if (this.offset + RANDOM_CHARS > this.pool.length) {
      this.pool = randomBytes(64 * 1024);
      this.offset = 0;
    }
    let random = '';
    // 256 is a multiple of 32: the low five bits of a uniform byte are uniform.
    for (let i = 0; i < RANDOM_CHARS; i += 1) random += CROCKFORD[this.pool[this.offset + i] & 31];
    this.offset += RANDOM_CHARS;
    return encodeTime(Math.max(0, at.getTime()), 10) + random;
  }
}

/** MAS's UUID column → the ULID it stands for. */
export function fromUuid(uuid: string): string {
  return uuidToULID(uuid);
}
