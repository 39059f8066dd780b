// Time and randomness, injected through the application context so that expiries, codes and
// tokens can be tested by moving a clock instead of sleeping. Code that decides whether something
// has expired takes "now" from here and hands it to SQL; it never mixes the JavaScript clock with
// the database's `now()`.
import { randomBytes, randomInt } from 'node:crypto';

export interface Clock {
  now(): Date;
}

/** Random values; the system one draws from the operating system's CSPRNG. */
export interface Randomness {
  bytes(size: number): Buffer;
  /** A uniformly distributed integer in [0, max). */
  int(max: number): number;
}

export const systemClock: Clock = { now: () => new Date() };

export const systemRandomness: Randomness = {
  bytes: (size) => randomBytes(size),
  int: (max) => randomInt(max),
};

/** A clock that moves only when told to, for tests. */
export class FixedClock implements Clock {
  #ms: number;

  constructor(start: Date | number = Date.UTC(2026, 0, 1)) {
    this.#ms = typeof start === 'number' ? start : start.getTime();
  }

  now(): Date {
    return new Date(this.#ms);
  }

  advance(seconds: number): void {
    this.#ms += seconds * 1000;
  }

  set(time: Date): void {
    this.#ms = time.getTime();
  }
}

/** Seconds after `from` as a Date: expiry times are computed here, then stored or compared in SQL. */
export function secondsAfter(from: Date, seconds: number): Date {
  return new Date(from.getTime() + seconds * 1000);
}
