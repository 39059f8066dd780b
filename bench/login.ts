// `npm run bench -- login`: password logins (the legacy `m.login.password`, which does what the
// browser login form does: rate limits, argon2id verification, a new session and device) against
// an argon2id floor (the same verification, back to back on as many threads as Mauth's password
// pool may use), and what logins do to introspection (p99 alone against p99 while logins
// saturate the server) and to memory (RSS after a login burst). See bench/README.md.
import { readFile } from 'node:fs/promises';
import { PasswordHasher } from '../src/accounts/passwords.js';
import { ROUTES } from '../src/oidc/provider.js';
import { seedPasswordUsers } from './fixtures.js';
import {
  describe,
  envNumber,
  fmtMb,
  fmtMs,
  fmtRate,
  fmtRatio,
  introspect,
  introspectionRequests,
  LoadGenerator,
  log,
  machine,
  observed,
  phaseSettings,
  runBenchmark,
  seededDatabase,
  startHomeserverStub,
  startMauth,
  startMauthProcess,
  statuses,
  stealLine,
  table,
  target,
  type Run,
} from './harness.js';
import type { LoadJob, LoadSummary } from './load.js';
import { checkLogin, LOGIN_PASSWORD, LOGIN_PATH, loginRequests, passwordConcurrency } from './workloads.js';

const SETTINGS = {
  tokens: envNumber('BENCH_TOKENS', 1000),
  users: envNumber('BENCH_USERS', 50),
  ...phaseSettings(),
  /** Introspection requests per second, alone and beside the logins. */
  introspectionRate: envNumber('BENCH_INTROSPECTION_RATE', 1000),
  poolSize: 10,
};
const TARGETS = { ratio: 0.8, p99Factor: 2, rssMb: 200 };

/**
 * The environment the container image gives the server: the `ENV` lines of the Dockerfile's
 * runtime stage (NODE_ENV, glibc's MALLOC_MMAP_THRESHOLD_), so the production process runs as the
 * image does. `BENCH_SERVER_ENV` ("NAME=value NAME=value"; "NAME=" leaves NAME out) changes it for
 * trials, e.g. `BENCH_SERVER_ENV=MALLOC_MMAP_THRESHOLD_=` to see the RSS without the setting.
 */
async function serverEnv(): Promise<Record<string, string>> {
  const dockerfile = await readFile(new URL('../Dockerfile', import.meta.url), 'utf8');
  const runtime = dockerfile.slice(dockerfile.search(/^FROM .* AS runtime$/m));
  const pairs = [...runtime.matchAll(/^ENV (.+)$/gm)].flatMap((m) => m[1].trim().split(/\s+/));
  pairs.push(...(process.env.BENCH_SERVER_ENV ?? '').split(/\s+/).filter(Boolean));
  const env: Record<string, string> = {};
  for (const pair of pairs) {
    const at = pair.indexOf('=');
    if (at <= 0) throw new Error(`not NAME=value: ${pair}`);
    const [name, value] = [pair.slice(0, at), pair.slice(at + 1)];
    if (value === '') delete env[name];
    else env[name] = value;
  }
  return env;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

runBenchmark(async (cleanups) => {
  const started = Date.now();
  const { db, tokens } = await seededDatabase(SETTINGS.tokens, cleanups);

  const homeserver = await startHomeserverStub(cleanups);
  const mauth = await startMauth({ database: { uri: db.url }, homeserverUrl: homeserver, resources: ['compat'], poolSize: SETTINGS.poolSize }, cleanups);
  const hasher = new PasswordHasher(mauth.config.passwords);
  const scheme = mauth.config.passwords.schemes.reduce((a, b) => (b.version > a.version ? b : a));
  log(`storing ${SETTINGS.users} users with a password (${scheme.algorithm}, Mauth's hasher)`);
  const { usernames, hash } = await seedPasswordUsers(db.url, hasher, 'login', SETTINGS.users, LOGIN_PASSWORD);
  const pool = passwordConcurrency(mauth.config);
  // Enough logins in flight to keep the pool busy, and a queue behind it.
  const loginConnections = envNumber('BENCH_LOGIN_CONNECTIONS', Math.max(4, pool.value * 4));

  await checkLogin(mauth.url, mauth.secret, usernames[0]);
  const first = await introspect(mauth.url, mauth.secret, tokens[0]);
  if (first.active !== true) throw new Error(`a stored access token is not active: ${JSON.stringify(first)}`);

  const load = LoadGenerator.start({ threads: pool.value });
  cleanups.push(() => load.stop());
  const logins: LoadJob = { url: `${mauth.url}${LOGIN_PATH}`, connections: loginConnections, duration: SETTINGS.duration, requests: loginRequests(usernames) };
  const floor = (duration: number) => ({ kind: 'argon2' as const, hash, password: LOGIN_PASSWORD, concurrency: pool.value, duration });
  const introspections: LoadJob = {
    url: `${mauth.url}${ROUTES.introspection}`,
    connections: SETTINGS.connections,
    duration: SETTINGS.duration,
    rate: SETTINGS.introspectionRate,
    shards: SETTINGS.shards,
    requests: introspectionRequests(mauth.secret, tokens),
  };

  const rssIdle = process.memoryUsage.rss();
  log(`warm-up ${SETTINGS.warmup} s each: logins, argon2 floor, introspection`);
  await load.run({ ...logins, duration: SETTINGS.warmup });
  await load.run(floor(SETTINGS.warmup));
  await load.run({ ...introspections, duration: SETTINGS.warmup });

  log(`Mauth: logins, ${SETTINGS.duration} s, ${loginConnections} connections`);
  const mauthLogins = await observed(() => load.run(logins), (s) => s.ok);
  log(`Mauth:   ${describe(mauthLogins)}`);
  log(`floor: argon2id verifies, ${SETTINGS.duration} s, ${pool.value} at a time`);
  const floorRun = await load.run(floor(SETTINGS.duration));
  log(`floor:   ${fmtRate(floorRun.rps)}/s, p50 ${fmtMs(floorRun.p50)}, p99 ${fmtMs(floorRun.p99)}`);

  log(`introspection alone, ${SETTINGS.duration} s at ${SETTINGS.introspectionRate}/s`);
  const alone = await observed(() => load.run(introspections), (s) => s.ok);
  log(`  ${describe(alone)}`);
  log(`introspection at ${SETTINGS.introspectionRate}/s while logins saturate (${loginConnections} connections), ${SETTINGS.duration} s`);
  const loaded = await observed(() => Promise.all([load.run(introspections), load.run(logins)]), ([s]) => s.ok);
  const [loadedIntrospection, loadedLogins] = loaded.load;
  log(`  introspection: ${describe({ load: loadedIntrospection, server: loaded.server })}`);
  log(`  logins: ${fmtRate(loadedLogins.rps)}/s, p50 ${fmtMs(loadedLogins.p50)}, p99 ${fmtMs(loadedLogins.p99)}, non-2xx ${statuses(loadedLogins)}`);
  // What stays resident once the bursts are over.
  await new Promise((r) => setTimeout(r, 2000));
  const rssAfter = process.memoryUsage.rss();
  const rssMax = Math.max(mauthLogins.server.rssMax, loaded.server.rssMax);

  // The same bursts against Mauth as operators run it: compiled, `node bin/mauth.js server` in a
  // child process on the same database and configuration. Its RSS is what the target is about.
  const env = await serverEnv();
  const envText = Object.entries(env).map(([k, v]) => `${k}=${v}`).join(' ');
  log(`production process: npm run build, node bin/mauth.js server (${envText})`);
  const child = await startMauthProcess(mauth, { env }, cleanups);
  const childActive = await introspect(child.url, mauth.secret, tokens[0]);
  if (childActive.active !== true) throw new Error(`a stored access token is not active at the production process: ${JSON.stringify(childActive)}`);
  const prodIdle = await child.rss();
  const at = (job: LoadJob): LoadJob => ({ ...job, url: job.url.replace(mauth.url, child.url) });
  let prodMax = prodIdle ?? 0;
  const sampler = setInterval(() => void child.rss().then((v) => (prodMax = Math.max(prodMax, v ?? 0))), 250);
  let prodAlone: LoadSummary, prodLoaded: LoadSummary, prodLogins: LoadSummary;
  try {
    log(`production process: introspection warm-up ${SETTINGS.warmup} s, then alone ${SETTINGS.duration} s at ${SETTINGS.introspectionRate}/s`);
    await load.run({ ...at(introspections), duration: SETTINGS.warmup });
    prodAlone = await load.run(at(introspections));
    log(`  ${fmtRate(prodAlone.rps)}/s, p50 ${fmtMs(prodAlone.p50)}, p99 ${fmtMs(prodAlone.p99)}`);
    await checkLogin(child.url, mauth.secret, usernames[0]);
    log(`production process: logins warm-up ${SETTINGS.warmup} s, logins ${SETTINGS.duration} s, then introspection beside logins ${SETTINGS.duration} s`);
    await load.run({ ...at(logins), duration: SETTINGS.warmup });
    prodLogins = await load.run(at(logins));
    [prodLoaded] = await Promise.all([load.run(at(introspections)), load.run(at(logins))]);
    log(`  logins ${fmtRate(prodLogins.rps)}/s; introspection beside them ${fmtRate(prodLoaded.rps)}/s, p99 ${fmtMs(prodLoaded.p99)}`);
  } finally {
    clearInterval(sampler);
  }
  await sleep(2000);
  const prodAfter = await child.rss();
  await sleep(8000);
  const prodLater = await child.rss();
  await child.stop();
  const prodP99Factor = prodLoaded.p99 / prodAlone.p99;

  const ratio = mauthLogins.load.rps / floorRun.rps;
  const p99Factor = loadedIntrospection.p99 / alone.load.p99;
  const row = (name: string, s: LoadSummary, extra: string) => [name, `${fmtRate(s.rps)}/s`, fmtMs(s.p50), fmtMs(s.p99), fmtMs(s.max), statuses(s), extra];
  process.stdout.write(
    [
      '',
      `Password login benchmark (POST ${LOGIN_PATH}, m.login.password, ${scheme.algorithm}, PostgreSQL)`,
      ...machine(`PostgreSQL ${db.serverVersion}`).map((l) => `  ${l}`),
      `  password pool: ${pool.value} at a time (${pool.source}); floor: argon2 verifies of the same hash, ${pool.value} at a time, in the load generator's process`,
      `  ${SETTINGS.users} users, ${loginConnections} login connections unpaced; introspection paced at ${SETTINGS.introspectionRate}/s over ${SETTINGS.connections} connections; ` +
        `warm-up ${SETTINGS.warmup} s, runs of ${SETTINGS.duration} s; run took ${Math.round((Date.now() - started) / 1000)} s`,
      '',
      table([
        ['', 'achieved', 'p50', 'p99', 'max', 'non-2xx', ''],
        row('Mauth logins', mauthLogins.load, `CPU ${fmtMs(mauthLogins.server.cpuPerRequestMs)}/login`),
        row('argon2id floor', floorRun, `${pool.value} at a time`),
        row('introspection alone', alone.load, `loop delay p99 ${fmtMs(alone.server.loopDelayP99)}`),
        row('introspection + logins', loadedIntrospection, `loop delay p99 ${fmtMs(loaded.server.loopDelayP99)}`),
        row('logins beside it', loadedLogins, ''),
        row('production: logins', prodLogins, ''),
        row('production: introspection alone', prodAlone, ''),
        row('production: introspection + logins', prodLoaded, ''),
      ]),
      '  production: the same bursts against `node bin/mauth.js server` (compiled) in a child process, same database and configuration',
      '',
      `Mauth / floor logins per second: ${fmtRatio(ratio)} (Mauth ${fmtRate(mauthLogins.load.rps)}/s, floor ${fmtRate(floorRun.rps)}/s)`,
      `Introspection p99 with logins saturated / alone: ${fmtRatio(p99Factor)} (${fmtMs(loadedIntrospection.p99)} vs ${fmtMs(alone.load.p99)}); ` +
        `achieved ${fmtRate(loadedIntrospection.rps)}/s of ${SETTINGS.introspectionRate}/s asked`,
      `Introspection p99, production process, with logins saturated / alone: ${fmtRatio(prodP99Factor)} (${fmtMs(prodLoaded.p99)} vs ${fmtMs(prodAlone.p99)})`,
      `RSS in-process (this benchmark's process, under tsx): ${fmtMb(rssIdle)} before any login, up to ${fmtMb(rssMax)} during the bursts, ${fmtMb(rssAfter)} 2 s after`,
      prodAfter === undefined || prodIdle === undefined
        ? 'RSS of the production process: not measured (no /proc)'
        : `RSS of the production process (node bin/mauth.js server; ${envText}): ${fmtMb(prodIdle)} before any login, up to ${fmtMb(prodMax)} during the bursts, ` +
          `${fmtMb(prodAfter)} 2 s after, ${fmtMb(prodLater ?? Number.NaN)} 10 s after`,
      '',
      'Targets',
      target(`logins >= ${TARGETS.ratio}x the argon2id floor (${pool.value} at a time)`, fmtRatio(ratio), ratio >= TARGETS.ratio),
      target(`introspection p99 with logins saturated <= ${TARGETS.p99Factor}x alone`, fmtRatio(p99Factor), p99Factor <= TARGETS.p99Factor),
      prodAfter === undefined
        ? '  RSS after a login burst: not judged (no /proc to read the production process from)'
        : target(`RSS 2 s after a login burst <= ${TARGETS.rssMb} MB (production process)`, fmtMb(prodAfter), prodAfter <= TARGETS.rssMb * 2 ** 20),
      '',
      ...stealLine([mauthLogins, alone, loaded] as Run<unknown>[]),
      '',
    ].join('\n'),
  );
});
