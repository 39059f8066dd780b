// `npm run bench`: token introspection throughput and latency of Mauth against real PostgreSQL,
// with its answer cache (the default configuration) and without (`introspection.cache_ttl: 0`),
// next to a baseline (a bare node:http server doing the same lookup, with no cache), all measured
// in the same run. See bench/README.md for what is measured and how.
import { envNumber, fmtMs, fmtRatio, log, measureIntrospection, peakHalfReport, phaseSettings, runBenchmark, seededDatabase, startMauth, target } from './harness.js';

const SETTINGS = { ...phaseSettings(), tokens: envNumber('BENCH_TOKENS', 1000), poolSize: 10 };

// Issue 15: at least the floor, with an answer cache (src/oidc/introspection-cache.ts).
const TARGETS = { ratio: 1.0, halfPeakP99Ms: 5 };

/** The counters of a Mauth's introspection cache from its `/metrics`; undefined: it has no cache. */
async function cacheCounters(url: string): Promise<{ hits: number; misses: number; listening: number } | undefined> {
  const res = await fetch(`${url}/metrics`);
  if (res.status !== 200) throw new Error(`${url}/metrics answered ${res.status}`);
  const text = await res.text();
  const metric = (name: string) => text.match(new RegExp(`^mauth_introspection_cache_${name} (\\S+)$`, 'm'))?.[1];
  const [hits, misses, listening] = [metric('hits_total'), metric('misses_total'), metric('listening')];
  if (hits === undefined || misses === undefined || listening === undefined) return undefined;
  return { hits: Number(hits), misses: Number(misses), listening: Number(listening) };
}

runBenchmark(async (cleanups) => {
  const started = Date.now();
  const { db, tokens } = await seededDatabase(SETTINGS.tokens, cleanups);
  log('starting Mauth twice (in process, no worker): with its introspection cache and with introspection.cache_ttl: 0; and the baseline');
  // `prometheus`: the cache's counters, read to check it is on (or off) and to report its hits.
  const mauth = await startMauth({ database: { uri: db.url }, resources: ['prometheus'], poolSize: SETTINGS.poolSize }, cleanups);
  const { secret } = mauth;
  const uncached = await startMauth(
    { database: { uri: db.url }, resources: ['prometheus'], poolSize: SETTINGS.poolSize, secret, extra: { introspection: { cache_ttl: 0 } } },
    cleanups,
  );
  const before = await cacheCounters(mauth.url);
  if (before?.listening !== 1) throw new Error(`Mauth: its introspection cache is not in use (${JSON.stringify(before)})`);
  if (await cacheCounters(uncached.url)) throw new Error('Mauth, no cache: it has an introspection cache although cache_ttl is 0');

  const results = await measureIntrospection(
    [
      { name: 'Mauth', url: mauth.url },
      { name: 'Mauth, no cache', url: uncached.url },
    ],
    { database: mauth.config.database, secret, tokens, settings: SETTINGS },
    cleanups,
  );
  const after = (await cacheCounters(mauth.url))!;
  const hits = after.hits - before.hits;
  const misses = after.misses - before.misses;

  const [cached, plain, floor] = results;
  const ratio = cached.peak.load.rps / floor.peak.load.rps;
  const { cache_ttl, cache_size } = mauth.config.introspection;
  process.stdout.write(
    peakHalfReport({
      title: 'Token introspection benchmark (POST /oauth2/introspect, Bearer matrix.secret, PostgreSQL)',
      software: `PostgreSQL ${db.serverVersion}`,
      about: [
        `${SETTINGS.tokens} tokens, ${SETTINGS.connections} connections, pool ${SETTINGS.poolSize} per server; ` +
          `warm-up ${SETTINGS.warmup} s, peak ${SETTINGS.duration} s unpaced, then ${SETTINGS.duration} s paced at half the peak ` +
          `(${SETTINGS.shards} staggered autocannon instances)`,
        `Mauth: the default configuration, introspection cache_ttl ${cache_ttl} s, cache_size ${cache_size}; ` +
          'Mauth, no cache: introspection.cache_ttl 0; baseline: one lookup per request, no cache',
      ],
      started,
      results,
      unit: 'req',
      each: 'request',
      findings: [
        `Mauth / baseline throughput: ${fmtRatio(ratio)} with the cache, ${fmtRatio(plain.peak.load.rps / floor.peak.load.rps)} without it ` +
          `(the cache gives ${fmtRatio(cached.peak.load.rps / plain.peak.load.rps)} the uncached throughput)`,
        `p99 at half peak: Mauth ${fmtMs(cached.half.load.p99)}, Mauth without the cache ${fmtMs(plain.half.load.p99)}, baseline ${fmtMs(floor.half.load.p99)}`,
        `Cache: ${hits + misses > 0 ? ((hits / (hits + misses)) * 100).toFixed(1) : 'n/a'}% of Mauth's introspections answered from it, warm-up included ` +
          `(${hits} hits, ${misses} lookups; an answer is kept ${cache_ttl} s)`,
      ],
      targets: [
        target(`Mauth (with its cache) >= ${TARGETS.ratio}x the baseline's throughput`, fmtRatio(ratio), ratio >= TARGETS.ratio),
        target(`Mauth (with its cache) p99 <= ${TARGETS.halfPeakP99Ms} ms at half its peak rate`, fmtMs(cached.half.load.p99), cached.half.load.p99 <= TARGETS.halfPeakP99Ms),
      ],
    }),
  );
});
