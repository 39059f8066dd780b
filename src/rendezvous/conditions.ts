// MSC4108's conditional requests: the ETag of a session is the unpadded base64url SHA-256 of its
// body (as Synapse computes it), and If-Match / If-None-Match carry entity tags (RFC 9110 §8.8.3,
// §13.1). Pure functions, no I/O.
import { createHash } from 'node:crypto';

/** The ETag of `body`, without its quotes. */
export function etagOf(body: Buffer): string {
  return createHash('sha256').update(body).digest('base64url');
}

export interface EntityTag {
  weak: boolean;
  opaque: string;
}

/** `*`, or the listed entity tags. */
export type EntityTagList = '*' | EntityTag[];

// etagc = %x21 / %x23-7E / obs-text: anything visible but the double quote (commas included).
const ETAGC = /^[\x21\x23-\x7e\x80-\xff]*$/;

/** Parses an If-Match or If-None-Match value; undefined when it is malformed. */
export function parseEntityTags(header: string): EntityTagList | undefined {
  const value = header.trim();
  if (value === '*') return '*';
  const tags: EntityTag[] = [];
  let rest = value;
  for (;;) {
    rest = rest.replace(/^[\s,]+/, '');
    if (rest === '') break;
    const weak = rest.startsWith('W/');
    if (weak) rest = rest.slice(2);
    if (!rest.startsWith('"')) return undefined;
    const end = rest.indexOf('"', 1);
    if (end < 0) return undefined;
    const opaque = rest.slice(1, end);
    if (!ETAGC.test(opaque)) return undefined;
    tags.push({ weak, opaque });
    rest = rest.slice(end + 1);
    if (rest !== '' && !/^\s*,/.test(rest)) return undefined;
  }
  return tags.length > 0 ? tags : undefined;
}

/**
 * What an If-Match lets a write replace: any version for `*`, else the strongly listed tags (a
 * weak tag never matches with the strong comparison If-Match uses).
 */
export function ifMatchVersions(tags: EntityTagList): readonly string[] | 'any' {
  if (tags === '*') return 'any';
  return tags.filter((tag) => !tag.weak).map((tag) => tag.opaque);
}

/** True when If-None-Match names the current version (weak comparison): answer 304. */
export function noneMatchHolds(tags: EntityTagList, current: string): boolean {
  return tags === '*' || tags.some((tag) => tag.opaque === current);
}

/** The header form of a version. */
export function quoted(version: string): string {
  return `"${version}"`;
}
