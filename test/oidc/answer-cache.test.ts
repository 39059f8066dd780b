// The introspection answer cache's bookkeeping: lifetimes, least-recently-used eviction,
// invalidation by token and by what a token depends on, and the refusal of answers from lookups
// that an invalidation or a flush overtook.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { AnswerCache, tokenKey } from '../../src/oidc/answer-cache.js';

const NOW = Date.UTC(2026, 10, 30, 12);

function cacheWith(options: { maxEntries?: number; ttlMs?: number; recentLimit?: number } = {}) {
  let monotonic = 1000;
  const cache = new AnswerCache<string>({
    maxEntries: options.maxEntries ?? 100,
    ttlMs: options.ttlMs ?? 5000,
    recentLimit: options.recentLimit,
    monotonic: () => monotonic,
  });
  return { cache, elapse: (ms: number) => (monotonic += ms) };
}

function put(cache: AnswerCache<string>, hash: string, deps: string[] = [], expiresAt?: number, ticket = cache.begin()): boolean {
  return cache.set(hash, `answer ${hash}`, { ticket, deps, expiresAt, nowMs: NOW });
}

describe('answer cache', () => {
  test('an answer is served until its lifetime in real time has passed', () => {
    const { cache, elapse } = cacheWith({ ttlMs: 5000 });
    assert.equal(put(cache, 'a'), true);
    assert.equal(cache.get('a', NOW), 'answer a');
    elapse(4999);
    assert.equal(cache.get('a', NOW), 'answer a');
    elapse(1);
    assert.equal(cache.get('a', NOW), undefined);
    assert.equal(cache.size, 0, 'a stale entry is dropped when met');
  });

  test('an answer is never served at or after the token expires, by the clock the caller passes', () => {
    const { cache } = cacheWith({ ttlMs: 60_000 });
    put(cache, 'a', [], NOW + 2000);
    assert.equal(cache.get('a', NOW + 1999), 'answer a');
    assert.equal(cache.get('a', NOW + 2000), undefined);
    assert.equal(put(cache, 'b', [], NOW), false, 'an answer for a token expired already is not stored');
  });

  test('beyond its size the least recently used answer goes first', () => {
    const { cache } = cacheWith({ maxEntries: 2 });
    put(cache, 'a');
    put(cache, 'b');
    assert.equal(cache.get('a', NOW), 'answer a');
    put(cache, 'c');
    assert.equal(cache.size, 2);
    assert.equal(cache.get('b', NOW), undefined, 'b was used least recently');
    assert.equal(cache.get('a', NOW), 'answer a');
    assert.equal(cache.get('c', NOW), 'answer c');
  });

  test('invalidating a token drops its answer only', () => {
    const { cache } = cacheWith();
    put(cache, 'a', ['user:1']);
    put(cache, 'b', ['user:1']);
    cache.invalidate(tokenKey('a'));
    assert.equal(cache.get('a', NOW), undefined);
    assert.equal(cache.get('b', NOW), 'answer b');
  });

  test('invalidating a user, grant or session drops every answer that depends on it, and only those', () => {
    const { cache } = cacheWith();
    put(cache, 'a', ['user:1', 'grant:g1']);
    put(cache, 'b', ['user:1', 'grant:g2']);
    put(cache, 'c', ['user:2', 'compat:s1']);
    put(cache, 'd', ['user:3', 'personal:p1', 'user:2']);
    cache.invalidate('grant:g1');
    assert.deepEqual(['a', 'b', 'c', 'd'].map((h) => cache.get(h, NOW) !== undefined), [false, true, true, true]);
    cache.invalidate('user:2');
    assert.deepEqual(['a', 'b', 'c', 'd'].map((h) => cache.get(h, NOW) !== undefined), [false, true, false, false]);
    cache.invalidate('user:1');
    assert.equal(cache.size, 0);
    // The indexes hold nothing for entries gone: a new answer for `a` is stored and dropped by its own keys.
    put(cache, 'a', ['grant:g3']);
    cache.invalidate('grant:g1');
    assert.equal(cache.get('a', NOW), 'answer a');
    cache.invalidate('grant:g3');
    assert.equal(cache.get('a', NOW), undefined);
  });

  test('the answer of a lookup overtaken by an invalidation of its token or of what it depends on is not stored', () => {
    const { cache } = cacheWith();
    let ticket = cache.begin();
    cache.invalidate(tokenKey('a'));
    assert.equal(put(cache, 'a', ['user:1'], undefined, ticket), false, 'the token itself');
    assert.equal(cache.get('a', NOW), undefined);

    ticket = cache.begin();
    cache.invalidate('user:1');
    assert.equal(put(cache, 'b', ['user:1'], undefined, ticket), false, 'its user');

    ticket = cache.begin();
    cache.invalidate('user:9');
    assert.equal(put(cache, 'c', ['user:1'], undefined, ticket), true, 'an invalidation of something else does not matter');
    assert.equal(cache.get('c', NOW), 'answer c');
  });

  test('a lookup older than the invalidations still remembered stores nothing', () => {
    const { cache } = cacheWith({ recentLimit: 3 });
    const ticket = cache.begin();
    cache.invalidate('user:1');
    for (let i = 0; i < 3; i++) cache.invalidate(`user:other${i}`);
    // user:1 is forgotten: whether it concerns this lookup can no longer be told.
    assert.equal(put(cache, 'a', ['user:2'], undefined, ticket), false);
    assert.equal(put(cache, 'a', ['user:2']), true, 'a lookup that starts now is stored');
  });

  test('a flush forgets everything and refuses the answers of lookups that began before it', () => {
    const { cache } = cacheWith();
    put(cache, 'a', ['user:1']);
    const ticket = cache.begin();
    cache.flush();
    assert.equal(cache.get('a', NOW), undefined);
    assert.equal(put(cache, 'b', [], undefined, ticket), false);
    assert.equal(put(cache, 'b'), true);
  });

  test('disabled (invalidations not heard), it answers nothing and stores nothing until enabled, and enabling starts empty', () => {
    const { cache } = cacheWith();
    put(cache, 'a');
    const before = cache.begin();
    cache.disable();
    assert.equal(cache.enabled, false);
    assert.equal(cache.get('a', NOW), undefined);
    assert.equal(put(cache, 'b'), false);
    const during = cache.begin();
    cache.enable();
    assert.equal(cache.size, 0);
    assert.equal(put(cache, 'c', [], undefined, before), false, 'a lookup from before the loss');
    assert.equal(put(cache, 'c', [], undefined, during), false, 'a lookup from while invalidations were not heard');
    assert.equal(put(cache, 'c'), true);
    assert.equal(cache.get('c', NOW), 'answer c');
  });

  test('a size or lifetime of 0 stores nothing', () => {
    assert.equal(put(cacheWith({ maxEntries: 0 }).cache, 'a'), false);
    assert.equal(put(cacheWith({ ttlMs: 0 }).cache, 'a'), false);
  });
});
