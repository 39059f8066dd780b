// `npm run bench -- embedded`: token introspection with Mauth on its embedded PGlite database
// (what a first run without `database.uri` gives), against the same bare introspection server as
// the PostgreSQL benchmark (bench/baseline.ts) on the same PGlite database. See bench/README.md.
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import { join } from 'node:path';
import { connect } from '../src/storage/db.js';
import { seedTokens } from './fixtures.js';
import { envNumber, fmtMs, fmtRatio, log, measureIntrospection, peakHalfReport, phaseSettings, runBenchmark, startMauth, target } from './harness.js';

const SETTINGS = { ...phaseSettings(), tokens: envNumber('BENCH_TOKENS', 1000) };
const TARGET_RPS = 1000;

runBenchmark(async (cleanups) => {
  const started = Date.now();
  const dir = await mkdtemp(join(os.tmpdir(), 'mauth-bench-pglite-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  log(`starting Mauth on a new embedded database in ${dir} (migrations included)`);
  const mauth = await startMauth({ database: { embedded_path: join(dir, 'data') }, migrate: true }, cleanups);

  // The database has one owner, Mauth: others reach it through the socket it serves.
  const client = await connect(mauth.config.database);
  let tokens: string[];
  let version: string;
  try {
    log(`storing ${SETTINGS.tokens} access tokens`);
    ({ tokens } = await seedTokens(client.sql, SETTINGS.tokens));
    [{ version }] = await client.sql<{ version: string }[]>`SELECT version()`;
  } finally {
    await client.close();
  }
  const results = await measureIntrospection([{ name: 'Mauth', url: mauth.url }], { database: mauth.config.database, secret: mauth.secret, tokens, settings: SETTINGS }, cleanups);
  const [m, f] = results;
  const ratio = m.peak.load.rps / f.peak.load.rps;
  process.stdout.write(
    peakHalfReport({
      title: 'Token introspection on the embedded database (PGlite, one connection, served over a UNIX socket)',
      software: version.split(',')[0],
      about: [
        `${SETTINGS.tokens} tokens, ${SETTINGS.connections} connections; both servers share the one PGlite database (Mauth owns it, the baseline uses its socket), neither caches answers; ` +
          `warm-up ${SETTINGS.warmup} s, peak ${SETTINGS.duration} s unpaced, then ${SETTINGS.duration} s at half the peak`,
      ],
      started,
      results,
      unit: 'req',
      each: 'request',
      findings: [`Mauth / baseline throughput: ${fmtRatio(ratio)}; p99 at half peak ${fmtMs(m.half.load.p99)} vs ${fmtMs(f.half.load.p99)}`],
      targets: [target(`Mauth >= ${TARGET_RPS} introspections/s on PGlite`, `${Math.round(m.peak.load.rps)}/s`, m.peak.load.rps >= TARGET_RPS)],
    }),
  );
});
