// Keys of MAS's configuration that Mauth accepts (so MAS configs load) but does not act on yet.
// An operator who sets one expects something Mauth would silently not do, so setting it is a
// configuration error ("is not supported yet"), except to its default or to a value that asks
// for nothing Mauth lacks (`accept`, e.g. the path of MAS's stock policy). Keys use the
// `section.list[].key` form of key-patterns.ts. Refused by a section's own check instead (it
// needs more than one key's value): http.listeners[].tls, proxy_protocol, prefix, binds[].fd.

export interface UnsupportedKey {
  key: string;
  /** Completes "is not supported yet: …". */
  reason: string;
  /** Values accepted besides the schema default and null. */
  accept?: readonly unknown[];
}

// MAS's default paths for its built-in policy and web assets: `./share/…` for a release
// tarball, `/usr/local/share/mas-cli/…` in its Docker image. They name MAS's stock behaviour,
// which Mauth has built in.
const MAS_SHARE = ['./share', '/usr/local/share/mas-cli'];
export const masShare = (file: string) => MAS_SHARE.flatMap((dir) => [`${dir}/${file}`, `${dir}/${file}/`]);
const POLICY = "Mauth's policies are built in; set their rules in `policy.data`";
const masEntrypoint = (name: string): UnsupportedKey => ({ key: `policy.${name}_entrypoint`, reason: POLICY, accept: [`${name}/violation`] });
const TRACING = 'traces are not exported yet';
const SENTRY = 'errors are not reported to Sentry yet';

export const UNSUPPORTED_KEYS: readonly UnsupportedKey[] = [
  { key: 'http.listeners[].resources[].playground', reason: 'the GraphQL API is not served', accept: [false] },
  { key: 'http.listeners[].resources[].undocumented_oauth2_access', reason: 'the GraphQL API is not served', accept: [false] },
  // postgres.js opens connections when they are needed and has no minimum.
  { key: 'database.min_connections', reason: 'connections are opened on demand; remove the key' },
  { key: 'upstream_oauth2.providers[].forward_login_hint', reason: 'login hints are not passed to upstream providers', accept: [false] },
  { key: 'http.listeners[].resources[].path', reason: 'Mauth serves its own assets', accept: masShare('assets') },
  { key: 'experimental.plan_management_iframe_uri', reason: 'the account pages have no plan management tab' },
  { key: 'templates.assets_manifest', reason: 'Mauth serves its own assets', accept: masShare('manifest.json') },
  { key: 'policy.wasm_module', reason: POLICY, accept: masShare('policy.wasm') },
  masEntrypoint('client_registration'),
  masEntrypoint('register'),
  masEntrypoint('authorization_grant'),
  masEntrypoint('password'),
  masEntrypoint('email'),
  masEntrypoint('compat_login'),
  { key: 'telemetry.tracing.exporter', reason: TRACING, accept: ['none'] },
  { key: 'telemetry.tracing.endpoint', reason: TRACING },
  { key: 'telemetry.tracing.propagators', reason: TRACING, accept: [[]] },
  { key: 'telemetry.tracing.sample_rate', reason: TRACING },
  // The `prometheus` listener resource serves /metrics; nothing is pushed anywhere.
  { key: 'telemetry.metrics.exporter', reason: 'metrics are only served by the `prometheus` listener resource', accept: ['none', 'prometheus'] },
  { key: 'telemetry.metrics.endpoint', reason: 'metrics are only served by the `prometheus` listener resource' },
  { key: 'telemetry.sentry.dsn', reason: SENTRY },
  { key: 'telemetry.sentry.environment', reason: SENTRY },
  { key: 'telemetry.sentry.sample_rate', reason: SENTRY },
  { key: 'telemetry.sentry.traces_sample_rate', reason: SENTRY },
];

const BY_KEY = new Map(UNSUPPORTED_KEYS.map((entry) => [entry.key, entry]));

/** `http.listeners[0].binds[1].fd` → `http.listeners[].binds[].fd` */
export function keyPattern(path: string): string {
  return path.replace(/\[\d+\]/g, '[]');
}

/** The entry refusing the key at `path`, if any. */
export function unsupportedKey(path: string): UnsupportedKey | undefined {
  return BY_KEY.get(keyPattern(path));
}
