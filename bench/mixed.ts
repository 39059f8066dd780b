// `npm run bench -- mixed`: a steady homeserver workload at a fixed rate, 95 % introspection,
// 4 % refresh, 1 % login, and what each kind gets; the floor is the bare introspection server
// (bench/baseline.ts) answering introspection alone at the same total rate. See bench/README.md.
import { ROUTES } from '../src/oidc/provider.js';
import {
  envNumber,
  fmtMs,
  fmtRate,
  fmtRatio,
  introspectionRequests,
  log,
  machine,
  observed,
  runBenchmark,
  startIntrospectionFloor,
  statuses,
  stealLine,
  table,
  type Run,
} from './harness.js';
import type { LoadSummary } from './load.js';
import { KINDS, MIX, mixedSettings, setupMixed } from './workloads.js';

const settings = mixedSettings();
const WARMUP = envNumber('BENCH_WARMUP', 3);
const DURATION = envNumber('BENCH_DURATION', 15);

runBenchmark(async (cleanups) => {
  const started = Date.now();
  const mixed = await setupMixed(settings, cleanups);
  const { mauth, load, rates, tokens } = mixed;
  const baseline = await startIntrospectionFloor(mauth.config.database, mauth.secret, tokens[1], [{ name: 'Mauth', url: mauth.url }], cleanups);

  const floorJob = (duration: number) => ({
    url: `${baseline.url}${ROUTES.introspection}`,
    connections: settings.connections.introspection,
    duration,
    rate: settings.rate,
    shards: settings.shards,
    requests: introspectionRequests(mauth.secret, tokens),
  });

  const asked = Object.values(rates).reduce((a, b) => a + b, 0);
  log(`warm-up ${WARMUP} s: the mix at ${asked}/s, then the floor`);
  await mixed.run(WARMUP);
  await load.run(floorJob(WARMUP));
  log(`Mauth: the mix, ${DURATION} s at ${asked}/s (${KINDS.map((k) => `${k} ${rates[k]}/s`).join(', ')})`);
  const run = await observed(() => mixed.run(DURATION), (s) => s.introspection.ok + s.refresh.ok + s.login.ok);
  for (const kind of KINDS) log(`  ${kind}: ${fmtRate(run.load[kind].rps)}/s, p50 ${fmtMs(run.load[kind].p50)}, p99 ${fmtMs(run.load[kind].p99)}, non-2xx ${statuses(run.load[kind])}`);
  log(`floor: introspection alone, ${DURATION} s at ${settings.rate}/s`);
  const floor = await observed(() => load.run(floorJob(DURATION)), (s) => s.ok);
  log(`  ${fmtRate(floor.load.rps)}/s, p50 ${fmtMs(floor.load.p50)}, p99 ${fmtMs(floor.load.p99)}`);

  const achieved = KINDS.reduce((n, k) => n + run.load[k].rps, 0);
  const ratio = run.load.introspection.p99 / floor.load.p99;
  const row = (name: string, askedRate: number, s: LoadSummary) => [name, `${askedRate}/s`, `${fmtRate(s.rps)}/s`, fmtMs(s.p50), fmtMs(s.p99), fmtMs(s.max), statuses(s)];
  process.stdout.write(
    [
      '',
      `Mixed homeserver workload (${KINDS.map((k) => `${MIX[k] * 100} % ${k}`).join(', ')}) at ${asked} requests/s, PostgreSQL`,
      ...machine(`PostgreSQL ${mixed.db.serverVersion}`).map((l) => `  ${l}`),
      `  connections: ${KINDS.map((k) => `${k} ${settings.connections[k]}`).join(', ')}; each kind paced on its own (staggered instances); ` +
        `password pool ${mixed.passwordPool.value}; job worker on; warm-up ${WARMUP} s, runs of ${DURATION} s; run took ${Math.round((Date.now() - started) / 1000)} s`,
      '',
      table([
        ['', 'asked', 'achieved', 'p50', 'p99', 'max', 'non-2xx'],
        ...KINDS.map((k) => row(`Mauth ${k}`, rates[k], run.load[k])),
        row('floor introspection', settings.rate, floor.load),
      ]),
      '',
      `Throughput: ${fmtRate(achieved)}/s of ${asked}/s asked (${((achieved / asked) * 100).toFixed(1)}%); ` +
        `server CPU ${fmtMs(run.server.cpuPerRequestMs)}/request, event loop ${(run.server.elu * 100).toFixed(0)}% busy, loop delay p99 ${fmtMs(run.server.loopDelayP99)}`,
      `Introspection p99 in the mix / the floor's p99 alone at the same total rate: ${fmtRatio(ratio)} (${fmtMs(run.load.introspection.p99)} vs ${fmtMs(floor.load.p99)})`,
      '  (what Synapse feels: how much slower its token checks get when Mauth also serves refreshes and logins, against the least a server could do)',
      '',
      ...stealLine([run, floor] as Run<unknown>[]),
      '',
    ].join('\n'),
  );
});
