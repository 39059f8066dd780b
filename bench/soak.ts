// `npm run bench -- soak [--minutes N]`: the mixed homeserver workload (bench/mixed.ts) held for
// N minutes (default 10) without a break, sampling Mauth's process every 10 s: resident memory,
// heap, event-loop delay and utilisation, and what each kind of request got in that interval.
// Ends with a leak check: did RSS grow after the first minute? See bench/README.md.
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { fmtMb, fmtMs, fmtRate, log, machine, runBenchmark, statuses, table } from './harness.js';
import type { LoadSummary } from './load.js';
import { KINDS, MIX, mixedSettings, setupMixed, type Kind } from './workloads.js';

const SAMPLE_SECONDS = 10;
/** RSS growth below this is noise (allocator and heap sizing), not a leak. */
const NOISE = { mb: 20, share: 0.1 };

function minutesArgument(): number {
  const args = process.argv.slice(2);
  const at = args.findIndex((a) => a === '--minutes' || a.startsWith('--minutes='));
  if (at < 0) return 10;
  const raw = args[at].includes('=') ? args[at].split('=')[1] : args[at + 1];
  const minutes = Number(raw);
  if (!Number.isFinite(minutes) || minutes <= 0) throw new Error(`--minutes wants a positive number, not ${JSON.stringify(raw)}`);
  return minutes;
}

interface Sample {
  at: number;
  rss: number;
  heapUsed: number;
  loopDelayP99: number;
  loopDelayMax: number;
  elu: number;
}

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted.length === 0 ? Number.NaN : sorted[Math.floor((sorted.length - 1) / 2)];
};

/** Least-squares slope of `y` over `x`. */
function slope(points: { x: number; y: number }[]): number {
  const n = points.length;
  if (n < 2) return Number.NaN;
  const mx = points.reduce((s, p) => s + p.x, 0) / n;
  const my = points.reduce((s, p) => s + p.y, 0) / n;
  const num = points.reduce((s, p) => s + (p.x - mx) * (p.y - my), 0);
  const den = points.reduce((s, p) => s + (p.x - mx) ** 2, 0);
  return den === 0 ? Number.NaN : num / den;
}

runBenchmark(async (cleanups) => {
  const minutes = minutesArgument();
  const duration = Math.round(minutes * 60);
  const settings = { ...mixedSettings(), tokenLifetime: Math.max(3600, duration + 900) };
  const started = Date.now();
  const mixed = await setupMixed(settings, cleanups);
  const asked = Object.values(mixed.rates).reduce((a, b) => a + b, 0);
  log('warm-up 3 s');
  await mixed.run(3);

  log(`soak: ${minutes} min at ${asked}/s (${KINDS.map((k) => `${k} ${mixed.rates[k]}/s`).join(', ')}), a sample every ${SAMPLE_SECONDS} s`);
  const samples: Sample[] = [];
  const intervals: Record<Kind, LoadSummary[]> = { introspection: [], refresh: [], login: [] };
  const delay = monitorEventLoopDelay({ resolution: 10 });
  delay.enable();
  let elu = performance.eventLoopUtilization();
  const t0 = performance.now();
  const sampler = setInterval(() => {
    const memory = process.memoryUsage();
    const sample: Sample = {
      at: (performance.now() - t0) / 1000,
      rss: memory.rss,
      heapUsed: memory.heapUsed,
      loopDelayP99: delay.percentile(99) / 1e6,
      loopDelayMax: delay.max / 1e6,
      elu: performance.eventLoopUtilization(elu).utilization,
    };
    delay.reset();
    elu = performance.eventLoopUtilization();
    samples.push(sample);
    log(`${Math.round(sample.at)} s: RSS ${fmtMb(sample.rss)}, heap ${fmtMb(sample.heapUsed)}, loop delay p99 ${fmtMs(sample.loopDelayP99)} max ${fmtMs(sample.loopDelayMax)}`);
  }, SAMPLE_SECONDS * 1000);
  let total: Record<Kind, LoadSummary>;
  try {
    total = await mixed.run(duration, SAMPLE_SECONDS, (kind, s) => intervals[kind].push(s));
  } finally {
    clearInterval(sampler);
    delay.disable();
  }

  const rows = samples.map((s, i) => [
    `${Math.round(s.at)} s`,
    fmtMb(s.rss),
    fmtMb(s.heapUsed),
    fmtMs(s.loopDelayP99),
    fmtMs(s.loopDelayMax),
    `${(s.elu * 100).toFixed(0)}%`,
    ...KINDS.flatMap((k) => {
      const interval = intervals[k][i];
      return interval ? [`${fmtRate(interval.rps)}/s`, fmtMs(interval.p99)] : ['-', '-'];
    }),
    String(KINDS.reduce((n, k) => n + (intervals[k][i]?.non2xx ?? 0), 0)),
  ]);

  // The leak check: the first minute against the last one (or the last third, if shorter).
  const first = samples.filter((s) => s.at <= 60);
  const tail = samples.filter((s) => s.at > Math.max(60, duration - 60));
  const verdict: string[] = [];
  if (duration < 120 || tail.length === 0) {
    verdict.push(`Leak check: not judged: a run of ${minutes} min has no minute after the first to compare (use --minutes 3 or more).`);
  } else {
    const before = median(first.map((s) => s.rss));
    const after = median(tail.map((s) => s.rss));
    const growth = after - before;
    const allowed = Math.max(NOISE.mb * 2 ** 20, before * NOISE.share);
    const trend = slope(samples.filter((s) => s.at > 60).map((s) => ({ x: s.at / 60, y: s.rss / 2 ** 20 })));
    verdict.push(
      `Leak check: RSS median ${fmtMb(before)} in the first minute, ${fmtMb(after)} in the last; ` +
        `${growth >= 0 ? '+' : ''}${(growth / 2 ** 20).toFixed(1)} MB (noise allowance ${fmtMb(allowed)}); trend after the first minute ${trend >= 0 ? '+' : ''}${trend.toFixed(2)} MB/min`,
      growth > allowed ? '  RSS GREW after the first minute: possible leak' : '  RSS did not grow after the first minute: no leak seen',
    );
    // What the program keeps: the heap right after a collection is the lowest sample of a minute.
    // It separates a leak (it rises) from V8 letting its heap grow between collections and the
    // allocator keeping freed blocks (RSS rises, this does not).
    const heapFloor = (from: number, to: number) => Math.min(...samples.filter((s) => s.at > from && s.at <= to).map((s) => s.heapUsed));
    const heapBefore = heapFloor(0, 60);
    const heapAfter = heapFloor(Math.max(60, duration - 60), duration);
    const heapGrowth = heapAfter - heapBefore;
    const heapAllowed = Math.max(NOISE.mb * 2 ** 20, heapBefore * NOISE.share);
    verdict.push(
      `Heap check: lowest heap in the first minute ${fmtMb(heapBefore)}, in the last ${fmtMb(heapAfter)}; ` +
        `${heapGrowth >= 0 ? '+' : ''}${(heapGrowth / 2 ** 20).toFixed(1)} MB (noise allowance ${fmtMb(heapAllowed)})`,
      heapGrowth > heapAllowed ? '  the heap kept after collections GREW: possible leak' : '  the heap kept after collections did not grow: no leak in the program seen',
      `  MALLOC_MMAP_THRESHOLD_ is ${process.env.MALLOC_MMAP_THRESHOLD_ ? `set (${process.env.MALLOC_MMAP_THRESHOLD_}), as in the Docker image` : 'not set (the Docker image sets it: see README "Memory")'}`,
    );
  }

  process.stdout.write(
    [
      '',
      `Soak: the mixed workload (${KINDS.map((k) => `${MIX[k] * 100} % ${k}`).join(', ')}) at ${asked} requests/s for ${minutes} min, PostgreSQL`,
      ...machine(`PostgreSQL ${mixed.db.serverVersion}`).map((l) => `  ${l}`),
      `  connections: ${KINDS.map((k) => `${k} ${settings.connections[k]}`).join(', ')}; password pool ${mixed.passwordPool.value}; job worker on; ` +
        `RSS, heap and event-loop delay of Mauth's process (the benchmark's own) every ${SAMPLE_SECONDS} s; run took ${Math.round((Date.now() - started) / 1000)} s`,
      '',
      table([['t', 'RSS', 'heap', 'lag p99', 'lag max', 'loop', ...KINDS.flatMap((k) => [`${k}/s`, `${k} p99`]), 'non-2xx'], ...rows]),
      '',
      table([
        ['whole run', 'asked', 'achieved', 'p50', 'p99', 'max', 'non-2xx'],
        ...KINDS.map((k) => [k, `${mixed.rates[k]}/s`, `${fmtRate(total[k].rps)}/s`, fmtMs(total[k].p50), fmtMs(total[k].p99), fmtMs(total[k].max), statuses(total[k])]),
      ]),
      '',
      ...verdict,
      '',
    ].join('\n'),
  );
});
