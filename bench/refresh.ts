// `npm run bench -- refresh`: the refresh-token grant of Mauth's token endpoint against a floor
// (bench/refresh-floor.ts: a bare node:http server doing the same durable work in one
// transaction), measured in the same run. See bench/README.md.
import { ROUTES } from '../src/oidc/provider.js';
import { PasswordHasher } from '../src/accounts/passwords.js';
import { migrate } from '../src/storage/migrate.js';
import postgres from 'postgres';
import { createBenchDatabase, seedPasswordUsers } from './fixtures.js';
import {
  envNumber,
  fmtMs,
  fmtRatio,
  introspect,
  LoadGenerator,
  log,
  peakAndHalf,
  peakHalfReport,
  phaseSettings,
  runBenchmark,
  startHomeserverStub,
  startMauth,
  target,
  type Target,
} from './harness.js';
import type { LoadRequest } from './load.js';
import { seedFloorChains, startRefreshFloor } from './refresh-floor.js';
import { openRefreshSessions, refreshOnce, settleChains } from './sessions.js';

const SETTINGS = {
  ...phaseSettings(),
  /** Sessions beyond one per connection, replacing chains that break. */
  spares: envNumber('BENCH_SPARES', 10),
  poolSize: 10,
};
const TARGET_RATIO = 0.7;
const PASSWORD = 'bench-refresh-password-0';

const TOKEN_FORMAT = { access_token: /^mat_[A-Za-z0-9]{30}_[A-Za-z0-9]{6}$/, refresh_token: /^mar_[A-Za-z0-9]{30}_[A-Za-z0-9]{6}$/ };

/** The fields of a refresh answer that must agree between Mauth and the floor (token values aside). */
function answerShape(body: Record<string, unknown>): Record<string, unknown> {
  return {
    // Mauth also signs an ID token (the scope has `openid`); the floor makes none (refresh-floor.ts).
    keys: Object.keys(body).filter((k) => k !== 'id_token').sort().join(' '),
    token_type: body.token_type,
    expires_in: body.expires_in,
    // The device scope names a different device for each; the rest must be the same.
    scope: String(body.scope ?? '').split(' ').filter((s) => !s.includes(':device:')).sort().join(' '),
    device: String(body.scope ?? '').includes('urn:matrix:client:device:'),
    access_token: TOKEN_FORMAT.access_token.test(String(body.access_token)),
    refresh_token: TOKEN_FORMAT.refresh_token.test(String(body.refresh_token)),
  };
}

runBenchmark(async (cleanups) => {
  const started = Date.now();
  const db = await createBenchDatabase();
  cleanups.push(() => db.drop());
  log(`database ${db.name}: migrating`);
  const admin = postgres(db.url, { max: 1, onnotice: () => {} });
  await migrate(admin);
  await admin.end();

  const homeserver = await startHomeserverStub(cleanups);
  const mauth = await startMauth({ database: { uri: db.url }, homeserverUrl: homeserver, resources: ['human', 'discovery', 'assets'], poolSize: SETTINGS.poolSize }, cleanups);
  const hasher = new PasswordHasher(mauth.config.passwords);
  const [username] = (await seedPasswordUsers(db.url, hasher, 'refresher', 1, PASSWORD)).usernames;

  const sessions = SETTINGS.connections + SETTINGS.spares;
  log(`Mauth: ${sessions} sessions through the authorization code flow (a native public client, PKCE, login and consent forms)`);
  const t0 = Date.now();
  const mauthChains = await openRefreshSessions(mauth.url, { username, password: PASSWORD }, sessions);
  log(`  done in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  const clientId = mauthChains.client.client_id;
  let mauthTokens = mauthChains.tokens;

  const floor = await startRefreshFloor({ database: mauth.config.database, path: ROUTES.token, accessTokenTtl: mauth.config.experimental.access_token_ttl });
  cleanups.push(() => floor.close());
  const userId = (await introspect(mauth.url, mauth.secret, mauthChains.accessTokens[0])).sub as string;
  // Cheap to make: enough for every run to start on fresh chains.
  let floorReserve = await seedFloorChains(db.url, userId, clientId, SETTINGS.connections * 8 + SETTINGS.spares * 8);
  let floorTokens = floorReserve.splice(0, sessions);

  // The same answer from both, and the floor's work is real: Mauth accepts what it wrote.
  const mauthFirst = await refreshOnce(mauth.url, clientId, mauthTokens.shift()!);
  const floorUsed = floorTokens.shift()!;
  const floorFirst = await refreshOnce(floor.url, clientId, floorUsed);
  if (mauthFirst.status !== 200) throw new Error(`Mauth: refresh answered ${mauthFirst.status}: ${JSON.stringify(mauthFirst.body)}`);
  if (floorFirst.status !== 200) throw new Error(`floor: refresh answered ${floorFirst.status}: ${JSON.stringify(floorFirst.body)}`);
  const a = answerShape(mauthFirst.body);
  const b = answerShape(floorFirst.body);
  if (JSON.stringify(a) !== JSON.stringify(b)) throw new Error(`Mauth and the floor answer differently: ${JSON.stringify(a)} vs ${JSON.stringify(b)}`);
  for (const [name, body] of [['Mauth', mauthFirst.body], ['floor', floorFirst.body]] as const) {
    const info = await introspect(mauth.url, mauth.secret, body.access_token as string);
    if (info.active !== true || info.username !== username) throw new Error(`${name}: the new access token does not introspect active at Mauth: ${JSON.stringify(info)}`);
  }
  const replay = await refreshOnce(floor.url, clientId, floorUsed);
  if (replay.status !== 400) throw new Error(`floor: a used refresh token answered ${replay.status}`);
  mauthTokens.push(mauthFirst.body.refresh_token as string);
  floorTokens.push(floorFirst.body.refresh_token as string);

  const load = LoadGenerator.start();
  cleanups.push(() => load.stop());
  const template: LoadRequest[] = [{ method: 'POST', path: ROUTES.token, headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: '' }];
  const dropped = { Mauth: 0, floor: 0 };

  const targets: Target[] = [
    {
      name: 'Mauth',
      job: (run) => ({ url: `${mauth.url}${ROUTES.token}`, connections: SETTINGS.connections, requests: template, refresh: { clientId, tokens: mauthTokens }, ...run }),
      async after(summary) {
        // Chains cut off at the end of the run continue through the lost-response grace.
        const settled = await settleChains(mauth.url, clientId, summary.uncertainTokens ?? []);
        dropped.Mauth += (summary.uncertainTokens?.length ?? 0) - settled.length;
        mauthTokens = [...(summary.refreshTokens ?? []), ...settled];
        if (mauthTokens.length < SETTINGS.connections) throw new Error(`Mauth: only ${mauthTokens.length} refresh chains left`);
      },
    },
    {
      name: 'floor',
      job: (run) => ({ url: `${floor.url}${ROUTES.token}`, connections: SETTINGS.connections, requests: template, refresh: { clientId, tokens: floorTokens }, ...run }),
      async after(summary) {
        // The floor has no grace: chains cut off are replaced from the reserve.
        const live = summary.refreshTokens ?? [];
        const missing = Math.max(0, sessions - live.length);
        dropped.floor += summary.uncertainTokens?.length ?? 0;
        floorTokens = [...live, ...floorReserve.splice(0, missing)];
        if (floorTokens.length < SETTINGS.connections) throw new Error(`floor: only ${floorTokens.length} refresh chains left`);
      },
    },
  ];
  const results = await peakAndHalf(load, targets, SETTINGS);
  const [m, f] = results;
  const ratio = m.peak.load.rps / f.peak.load.rps;

  process.stdout.write(
    peakHalfReport({
      title: 'Refresh benchmark (POST /oauth2/token, grant_type=refresh_token, public client, PostgreSQL)',
      software: `PostgreSQL ${db.serverVersion}`,
      about: [
        `${SETTINGS.connections} connections, each its own refresh chain (one OAuth 2.0 session each); pool ${SETTINGS.poolSize} per server; ` +
          `warm-up ${SETTINGS.warmup} s, peak ${SETTINGS.duration} s unpaced, then ${SETTINGS.duration} s paced at half the peak (${SETTINGS.shards} staggered instances)`,
      ],
      started,
      results,
      unit: 'refreshes',
      each: 'refresh',
      findings: [
        `Mauth / floor refreshes per second: ${fmtRatio(ratio)} (Mauth ${Math.round(m.peak.load.rps)}/s, floor ${Math.round(f.peak.load.rps)}/s); ` +
          `p99 at half peak ${fmtMs(m.half.load.p99)} vs ${fmtMs(f.half.load.p99)}`,
      ],
      targets: [target(`throughput >= ${TARGET_RATIO}x the one-transaction floor`, fmtRatio(ratio), ratio >= TARGET_RATIO)],
      notes: [
        `Mauth's answer also carries a signed ID token (${mauthFirst.body.id_token ? 'present' : 'absent'} in this run); the floor signs none.`,
        `Chains cut off between runs: Mauth ${dropped.Mauth} lost after the grace replay, floor ${dropped.floor} replaced`,
      ],
    }),
  );
});
