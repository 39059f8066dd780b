// The load generator of the benchmarks, run as a child process (forked by bench/harness.ts) so
// that autocannon does not share an event loop with the servers it measures. It takes jobs over
// IPC and answers with a summary of each; several jobs sent at once run side by side (the mixed
// workload).
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
//
// Refresh chains (`refresh`): every refresh answers with a new refresh token and uses up the one
// sent, so each connection keeps a chain of its own: the body of its next request is built from
// the last answer (autocannon `setupRequest`/`onResponse`). A chain whose request failed or was
// still in flight when the run ended is handed back as uncertain (the server may have used the
// token); the caller settles those before the next run. Spare tokens replace chains that fail.
//
// Password hashing (`argon2`): the login benchmark's floor, argon2id verifies of one hash at a
// fixed concurrency, run here too so the server process measured beside it stays untouched.
//
// Progress (`intervalSeconds`): a long run (the soak) reports a summary of every interval.
import argon2 from 'argon2';
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
  /** Refresh-token chains (see above): `requests` then only give the path and headers. */
  refresh?: RefreshChains;
  /** Seconds between progress reports (one summary of each interval); none when absent. */
  intervalSeconds?: number;
}

export interface RefreshChains {
  clientId: string;
  /** One token per connection first; the rest are spares. */
  tokens: string[];
}

/** argon2 verifications of `hash` at `concurrency` for `duration` seconds. */
export interface HashJob {
  kind: 'argon2';
  hash: string;
  password: string;
  concurrency: number;
  duration: number;
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
  /** Non-2xx responses by status code. */
  statuses: Record<string, number>;
  /** Refresh chains: the live tokens at the end (spares included), and those the server may have used. */
  refreshTokens?: string[];
  uncertainTokens?: string[];
}

export type LoadMessage = { type: 'job'; id: number; job: LoadJob | HashJob } | { type: 'exit' };
export type LoadReply = { type: 'result'; id: number; summary: LoadSummary } | { type: 'error'; id: number; message: string };
/** Sent before the result of a job with `intervalSeconds`, once per interval. */
export type LoadProgress = { type: 'progress'; id: number; summary: LoadSummary };

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
  statuses: Record<string, number>;
  /** The current interval's share, when progress is reported. */
  interval?: { latencies: number[]; non2xx: number; statuses: Record<string, number> };
}

function record(collector: Collector, statusCode: number, responseTime: number): void {
  for (const c of collector.interval ? [collector, collector.interval] : [collector]) {
    if (statusCode >= 200 && statusCode < 300) c.latencies.push(responseTime);
    else {
      c.non2xx += 1;
      c.statuses[statusCode] = (c.statuses[statusCode] ?? 0) + 1;
    }
  }
}

/** The refresh chains of one job, shared by its autocannon instances (see the top). */
class Chains {
  private readonly spares: string[];
  readonly live: { token: string | undefined; inFlight: boolean }[] = [];
  readonly uncertain: string[] = [];

  constructor(
    private readonly refresh: RefreshChains,
    private readonly connections: number,
  ) {
    this.spares = refresh.tokens.slice(connections);
  }

  /** The request of connection `index`: a refresh of its chain's current token. */
  request(template: LoadRequest, index: number): autocannon.Request {
    const state = { token: index < this.connections ? this.refresh.tokens[index] : this.spares.shift(), inFlight: true };
    this.live.push(state);
    const body = () => new URLSearchParams({ grant_type: 'refresh_token', refresh_token: state.token ?? 'mar_exhausted', client_id: this.refresh.clientId }).toString();
    return {
      method: template.method,
      path: template.path,
      headers: { ...template.headers },
      body: body(),
      setupRequest: (request) => {
        state.inFlight = true;
        request.body = body();
        return request;
      },
      onResponse: (status, text) => {
        state.inFlight = false;
        if (status === 200) {
          state.token = (JSON.parse(text) as { refresh_token: string }).refresh_token;
          return;
        }
        // invalid_grant: the token is spent for good; anything else may have used it or not.
        if (status !== 400 && state.token) this.uncertain.push(state.token);
        state.token = this.spares.shift();
      },
    };
  }

  result(): { refreshTokens: string[]; uncertainTokens: string[] } {
    const refreshTokens: string[] = [...this.spares];
    const uncertainTokens = [...this.uncertain];
    for (const state of this.live) {
      if (!state.token) continue;
      (state.inFlight ? uncertainTokens : refreshTokens).push(state.token);
    }
    return { refreshTokens, uncertainTokens };
  }
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
  chains: Chains | undefined,
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
          const index = next++;
          client.setRequests(chains ? [chains.request(job.requests[0], index)] : slice(job.requests, index, job.connections));
        },
        timeout: 10,
      },
      (err, result) => (err ? reject(err) : resolve(result)),
    );
    instance.on('response', (_client, statusCode, _bytes, responseTime) => record(collector, statusCode, responseTime));
  });
}

function summarize(
  latencies: number[],
  counts: { non2xx: number; statuses: Record<string, number>; errors: number; timeouts: number },
  seconds: number,
  cpuMicros: number,
): LoadSummary {
  const sorted = Float64Array.from(latencies).sort();
  const ok = sorted.length;
  let sum = 0;
  for (const value of sorted) sum += value;
  return {
    rps: ok / seconds,
    ok,
    non2xx: counts.non2xx,
    errors: counts.errors,
    timeouts: counts.timeouts,
    p50: percentile(sorted, 0.5),
    p90: percentile(sorted, 0.9),
    p99: percentile(sorted, 0.99),
    max: ok ? sorted[ok - 1] : Number.NaN,
    mean: ok ? sum / ok : Number.NaN,
    clientCpuPerRequestMs: cpuMicros / 1000 / Math.max(1, ok),
    statuses: { ...counts.statuses },
  };
}

export async function runJob(job: LoadJob, progress?: (summary: LoadSummary) => void): Promise<LoadSummary> {
  const shards = job.rate ? Math.max(1, Math.min(job.shards ?? 1, job.connections, job.rate)) : 1;
  const collector: Collector = { latencies: [], non2xx: 0, statuses: {} };
  const chains = job.refresh ? new Chains(job.refresh, job.connections) : undefined;
  const cpu = process.cpuUsage();
  let ticker: NodeJS.Timeout | undefined;
  if (job.intervalSeconds && progress) {
    collector.interval = { latencies: [], non2xx: 0, statuses: {} };
    let intervalCpu = process.cpuUsage();
    let intervalStart = performance.now();
    ticker = setInterval(() => {
      const interval = collector.interval!;
      collector.interval = { latencies: [], non2xx: 0, statuses: {} };
      const used = process.cpuUsage(intervalCpu);
      intervalCpu = process.cpuUsage();
      const now = performance.now();
      progress(summarize(interval.latencies, { ...interval, errors: 0, timeouts: 0 }, (now - intervalStart) / 1000, used.user + used.system));
      intervalStart = now;
    }, job.intervalSeconds * 1000);
  }
  const runs: Promise<autocannon.Result>[] = [];
  let first = 0;
  for (let i = 0; i < shards; i += 1) {
    const connections = share(job.connections, shards, i);
    const firstConnection = first;
    first += connections;
    const rate = job.rate ? share(job.rate, shards, i) : undefined;
    const delay = (i * 1000) / shards;
    runs.push(new Promise((r) => setTimeout(r, delay)).then(() => runInstance(job, connections, rate, firstConnection, collector, chains)));
  }
  const results = await Promise.all(runs);
  if (ticker) clearInterval(ticker);
  const used = process.cpuUsage(cpu);
  return {
    ...summarize(
      collector.latencies,
      {
        non2xx: collector.non2xx,
        statuses: collector.statuses,
        errors: results.reduce((n, r) => n + r.errors, 0),
        timeouts: results.reduce((n, r) => n + r.timeouts, 0),
      },
      job.duration,
      used.user + used.system,
    ),
    ...chains?.result(),
  };
}

/** The login benchmark's floor: `concurrency` argon2 verifications at a time, back to back. */
export async function runHashJob(job: HashJob): Promise<LoadSummary> {
  if (!(await argon2.verify(job.hash, job.password))) throw new Error('argon2 floor: the password does not verify against the hash');
  const latencies: number[] = [];
  const cpu = process.cpuUsage();
  const started = performance.now();
  const end = started + job.duration * 1000;
  const worker = async () => {
    while (performance.now() < end) {
      const t0 = performance.now();
      await argon2.verify(job.hash, job.password);
      latencies.push(performance.now() - t0);
    }
  };
  await Promise.all(Array.from({ length: job.concurrency }, worker));
  const used = process.cpuUsage(cpu);
  return summarize(latencies, { non2xx: 0, statuses: {}, errors: 0, timeouts: 0 }, (performance.now() - started) / 1000, used.user + used.system);
}

// As a forked child: serve jobs until told to exit.
const send = process.send?.bind(process);
if (send) {
  const reply = (message: LoadReply | LoadProgress) => send(message);
  process.on('message', (message: LoadMessage) => {
    if (message.type === 'exit') {
      process.disconnect?.();
      return;
    }
    const job = message.job;
    const run = 'kind' in job ? runHashJob(job) : runJob(job, (summary) => reply({ type: 'progress', id: message.id, summary }));
    run.then(
      (summary) => reply({ type: 'result', id: message.id, summary }),
      (err: unknown) => reply({ type: 'error', id: message.id, message: err instanceof Error ? err.message : String(err) }),
    );
  });
}
