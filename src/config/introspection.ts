// `introspection` (Mauth's own, MAS has no such section): the in-process cache of introspection
// answers (src/oidc/introspection-cache.ts). Revocations reach every instance through PostgreSQL
// NOTIFY at once; the lifetime only bounds how stale an answer may be should one ever be missed.
import { integer, number } from './formats.js';
import type { Section } from './section.js';

export const introspectionSchema = {
  cache_ttl: number('Seconds an active answer is kept at most (never past the token\'s expiry); 0 turns the cache off', 5, { min: 0, max: 60 }),
  cache_size: integer('Answers kept at most per process; the least recently used go first', 100_000, { min: 0 }),
};

export const introspection: Section<'introspection'> = {
  key: 'introspection',
  description: [
    'Mauth addition: each process caches active introspection answers by token hash for at most',
    '`cache_ttl` seconds. A revocation, session end, lock, deactivation or password reset is',
    'announced by the database in the transaction that makes it (LISTEN/NOTIFY) and drops the',
    'answers on every instance; while that connection is down the cache is not used. The',
    'embedded database (first run) does not cache.',
  ],
  schema: introspectionSchema,
};
