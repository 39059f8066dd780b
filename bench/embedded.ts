// `npm run bench -- embedded`: token introspection with Mauth on its embedded PGlite database
// (what a first run without `database.uri` gives), against the same bare introspection server as
// the PostgreSQL benchmark (bench/baseline.ts) on the same PGlite database. See bench/README.md.
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import { join } from 'node:path';
import { ROUTES } from '../src/oidc/provider.js';
import { connect } from '../src/storage/db.js';
import { startBaseline } from './baseline.js';
import { BENCH_DEVICE, BENCH_USERNAME, seedTokens } from './fixtures.js';
import {
  envNumber,
  fmtMs,
  fmtRatio,
  introspect,
  introspectionHeaders,
  LoadGenerator,
  log,
  machine,
  peakAndHalf,
  peakHalfTable,
  runBenchmark,
  sameAnswer,
  startMauth,
  stealLine,
  target,
  type Target,
} from './harness.js';

const SETTINGS = {
  tokens: envNumber('BENCH_TOKENS', 1000),
  connections: envNumber('BENCH_CONNECTIONS', 50),
  warmup: envNumber('BENCH_WARMUP', 3),
  duration: envNumber('BENCH_DURATION', 10),
  shards: envNumber('BENCH_SHARDS', 50),
};
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
  const baseline = await startBaseline({ database: mauth.config.database, secret: mauth.secret, path: ROUTES.introspection });
  cleanups.push(() => baseline.close());

  const a = await introspect(mauth.url, mauth.secret, tokens[0]);
  const b = await introspect(baseline.url, mauth.secret, tokens[0]);
  if (a.active !== true || a.username !== BENCH_USERNAME || a.device_id !== BENCH_DEVICE) throw new Error(`Mauth: unexpected answer ${JSON.stringify(a)}`);
  const difference = sameAnswer(a, b);
  if (difference) throw new Error(`Mauth and the baseline answer differently (${difference})`);

  const load = LoadGenerator.start();
  cleanups.push(() => load.stop());
  const requests = tokens.map((token) => ({ method: 'POST' as const, path: ROUTES.introspection, headers: introspectionHeaders(mauth.secret), body: new URLSearchParams({ token }).toString() }));
  const targets: Target[] = [
    { name: 'Mauth', job: (run) => ({ url: `${mauth.url}${ROUTES.introspection}`, connections: SETTINGS.connections, requests, ...run }) },
    { name: 'baseline', job: (run) => ({ url: `${baseline.url}${ROUTES.introspection}`, connections: SETTINGS.connections, requests, ...run }) },
  ];
  const results = await peakAndHalf(load, targets, SETTINGS);
  const [m, f] = results;
  const ratio = m.peak.load.rps / f.peak.load.rps;
  process.stdout.write(
    [
      '',
      'Token introspection on the embedded database (PGlite, one connection, served over a UNIX socket)',
      ...machine(version.split(',')[0]).map((l) => `  ${l}`),
      `  ${SETTINGS.tokens} tokens, ${SETTINGS.connections} connections; both servers share the one PGlite database (Mauth owns it, the baseline uses its socket); ` +
        `warm-up ${SETTINGS.warmup} s, peak ${SETTINGS.duration} s unpaced, then ${SETTINGS.duration} s at half the peak`,
      `  latencies over 2xx responses, client side; run took ${Math.round((Date.now() - started) / 1000)} s`,
      '',
      peakHalfTable(results, 'req'),
      '',
      `Mauth / baseline throughput: ${fmtRatio(ratio)}; p99 at half peak ${fmtMs(m.half.load.p99)} vs ${fmtMs(f.half.load.p99)}`,
      '',
      'Targets',
      target(`Mauth >= ${TARGET_RPS} introspections/s on PGlite`, `${Math.round(m.peak.load.rps)}/s`, m.peak.load.rps >= TARGET_RPS),
      '',
      ...stealLine(results.flatMap((r) => [r.peak, r.half])),
      '',
    ].join('\n'),
  );
});
