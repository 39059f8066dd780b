// The load generator of the introspection benchmark, run as a child process (forked by
// bench/introspection.ts) so that autocannon does not share an event loop with the servers it
// measures. It takes jobs over IPC and answers with a summary of each.
//
// Latencies are taken from autocannon's `response` events (sub-millisecond, from hrtime) and
// their percentiles computed exactly, rather than read from autocannon's histogram, which keeps
// whole milliseconds only.
//
// Paced runs (`rate`): autocannon paces each connection by the second — a connection sends its
// quota back to back, then waits for the next second — and all connections of one instance start
// their seconds together. A single instance at half the peak rate would therefore send bursts at
// nearly peak speed for half of every second and idle for the other half. To spread the load,
// a paced job runs one autocannon instance per `shards` (each with its share of the connections
// and of `overallRate`), their starts staggered evenly across one second.
import autocannon from 'autocannon';

export interface LoadRequest {
  method: 'POST';
  path: string;
  headers: Record<string, string>;
  body: string;
}

export interface LoadJob {
  url: string;
  connections: number;
  /** Seconds. */
  duration: number;
  /** Overall requests per second; unlimited when absent. */
  rate?: number;
  /** autocannon instances for a paced job (see above); 1 when absent. */
  shards?: number;
  requests: LoadRequest[];
}

export interface LoadSummary {
  /** 2xx responses per second of the run. */
  rps: number;
  ok: number;
  non2xx: number;
  errors: number;
  timeouts: number;
  /** Milliseconds, over 2xx responses. */
  p50: number;
  p90: number;
  p99: number;
  max: number;
  mean: number;
  /** CPU time of the load generator per 2xx response, in milliseconds. */
  clientCpuPerRequestMs: number;
}

export type LoadMessage = { type: 'job'; id: number; job: LoadJob } | { type: 'exit' };
export type LoadReply = { type: 'result'; id: number; summary: LoadSummary } | { type: 'error'; id: number; message: string };

/** Share `i` of `total` split into `parts` (the first `total % parts` shares get one more). */
function share(total: number, parts: number, i: number): number {
  return Math.floor(total / parts) + (i < total % parts ? 1 : 0);
}

function percentile(sorted: Float64Array, q: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

interface Collector {
  latencies: number[];
  non2xx: number;
}

/**
 * The requests of connection `index` of `total`: every `total`-th one, so that together the
 * connections rotate through all of them. autocannon builds a buffer for each request of each
 * connection when the connection is created, synchronously: giving every connection the whole
 * list would stall the load generator for a noticeable time at the start of every run (and
 * show up as latency).
 */
function slice(requests: LoadRequest[], index: number, total: number): LoadRequest[] {
  const mine = requests.filter((_, i) => i % total === index % total);
  return (mine.length > 0 ? mine : [requests[index % requests.length]]).map((r) => ({ ...r, headers: { ...r.headers } }));
}

function runInstance(
  job: LoadJob,
  connections: number,
  rate: number | undefined,
  firstConnection: number,
  collector: Collector,
) {
  return new Promise<autocannon.Result>((resolve, reject) => {
    let next = firstConnection;
    const instance = autocannon(
      {
        url: job.url,
        connections,
        duration: job.duration,
        ...(rate ? { overallRate: rate } : {}),
        // autocannon's coordinated-omission correction assumes a millisecond interval here and
        // would invent samples; the staggered pacing above is the remedy this job uses instead.
        ...(rate ? { ignoreCoordinatedOmission: true } : {}),
        // Replaced per connection by setupClient.
        requests: [job.requests[0]],
        setupClient(client) {
          client.setRequests(slice(job.requests, next++, job.connections));
        },
        timeout: 10,
      },
      (err, result) => (err ? reject(err) : resolve(result)),
    );
    instance.on('response', (_client, statusCode, _bytes, responseTime) => {
      if (statusCode >= 200 && statusCode < 300) collector.latencies.push(responseTime);
      else collector.non2xx += 1;
    });
  });
}

export async function runJob(job: LoadJob): Promise<LoadSummary> {
  const shards = job.rate ? Math.max(1, Math.min(job.shards ?? 1, job.connections, job.rate)) : 1;
  const collector: Collector = { latencies: [], non2xx: 0 };
  const cpu = process.cpuUsage();
  const runs: Promise<autocannon.Result>[] = [];
  let first = 0;
  for (let i = 0; i < shards; i += 1) {
    const connections = share(job.connections, shards, i);
    const firstConnection = first;
    first += connections;
    const rate = job.rate ? share(job.rate, shards, i) : undefined;
    const delay = (i * 1000) / shards;
    runs.push(new Promise((r) => setTimeout(r, delay)).then(() => runInstance(job, connections, rate, firstConnection, collector)));
  }
  const results = await Promise.all(runs);
  const used = process.cpuUsage(cpu);
  const sorted = Float64Array.from(collector.latencies).sort();
  const ok = sorted.length;
  let sum = 0;
  for (const value of sorted) sum += value;
  return {
    rps: ok / job.duration,
    ok,
    non2xx: collector.non2xx,
    errors: results.reduce((n, r) => n + r.errors, 0),
    timeouts: results.reduce((n, r) => n + r.timeouts, 0),
    p50: percentile(sorted, 0.5),
    p90: percentile(sorted, 0.9),
    p99: percentile(sorted, 0.99),
    max: ok ? sorted[ok - 1] : Number.NaN,
    mean: ok ? sum / ok : Number.NaN,
    clientCpuPerRequestMs: (used.user + used.system) / 1000 / Math.max(1, ok),
  };
}

// As a forked child: serve jobs until told to exit.
const send = process.send?.bind(process);
if (send) {
  const reply = (message: LoadReply) => send(message);
  process.on('message', (message: LoadMessage) => {
    if (message.type === 'exit') {
      process.disconnect?.();
      return;
    }
    runJob(message.job).then(
      (summary) => reply({ type: 'result', id: message.id, summary }),
      (err: unknown) => reply({ type: 'error', id: message.id, message: err instanceof Error ? err.message : String(err) }),
    );
  });
}
