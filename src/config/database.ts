// `database`: a PostgreSQL server by `uri` or by separate keys, TLS, pool sizes and timeouts
// (seconds). With neither `uri`, `host` nor `socket`, Mauth runs an embedded PostgreSQL (PGlite)
// whose files live in `embedded_path`, so a first run needs nothing installed.
import { readFile } from 'node:fs/promises';
import { integer, oneOf, optionalString, REDACTED, secret, string } from './formats.js';
import type { Reporter } from './problems.js';
import type { Section } from './section.js';
import type { DatabaseConfig } from './types.js';

export const SSL_MODES = ['disable', 'allow', 'prefer', 'require', 'verify-ca', 'verify-full'] as const;
export type SslMode = (typeof SSL_MODES)[number];

/** libpq's TLS parameters of a connection URI, by the `database` key each one stands for. */
const URI_TLS_PARAMS = { sslmode: 'ssl_mode', sslrootcert: 'ssl_ca_file', sslcert: 'ssl_certificate_file', sslkey: 'ssl_key_file' } as const;
type UriTls = { ssl_mode?: string; ssl_ca_file?: string; ssl_certificate_file?: string; ssl_key_file?: string };

/**
 * Takes libpq's TLS parameters out of a connection URI. postgres.js would otherwise send
 * `sslrootcert` and friends to the server as settings (which it refuses) and check `verify-ca`
 * against the system CAs only; Mauth gives them the meaning they have for libpq and MAS.
 */
export function splitUriTls(uri: string): { uri: string; tls: UriTls } {
  const queryAt = uri.indexOf('?');
  if (queryAt < 0) return { uri, tls: {} };
  const params = new URLSearchParams(uri.slice(queryAt + 1));
  const tls: UriTls = {};
  for (const [param, key] of Object.entries(URI_TLS_PARAMS)) {
    const value = params.get(param);
    if (value !== null) tls[key] = value;
    params.delete(param);
  }
  const rest = params.toString();
  return { uri: uri.slice(0, queryAt) + (rest ? `?${rest}` : ''), tls };
}

/** The TLS settings in force: the `ssl_*` keys, else the URI's parameters; libpq's default mode. */
export function effectiveTls(section: DatabaseConfig): UriTls & { ssl_mode: SslMode; system_ca: boolean } {
  const fromUri = section.uri === undefined ? {} : splitUriTls(section.uri).tls;
  // libpq: `sslrootcert=system` means the system's CAs, and verify-full unless told otherwise.
  const systemCa = fromUri.ssl_ca_file === 'system';
  const mode = (section.ssl_mode ?? fromUri.ssl_mode ?? (systemCa ? 'verify-full' : 'prefer')) as SslMode;
  return {
    ssl_mode: mode,
    system_ca: systemCa,
    ssl_ca_file: section.ssl_ca_file ?? (systemCa ? undefined : fromUri.ssl_ca_file),
    ssl_certificate_file: section.ssl_certificate_file ?? fromUri.ssl_certificate_file,
    ssl_key_file: section.ssl_key_file ?? fromUri.ssl_key_file,
  };
}

const TLS_PEMS = ['ssl_ca', 'ssl_certificate', 'ssl_key'] as const;

/** `postgresql://user:secret@host/db?password=x` → `postgresql://user:<redacted>@host/db?password=<redacted>`. */
export function redactUri(uri: string): string {
  return uri
    .replace(/^([a-z][a-z0-9+.-]*:\/\/[^:/?#@]*:)[^@/?#]*@/i, `$1${REDACTED}@`)
    .replace(/([?&]password=)[^&#]*/gi, `$1${REDACTED}`);
}

const SPLIT_KEYS = ['host', 'port', 'socket', 'username', 'password', 'password_file', 'database'] as const;

export const databaseSchema = {
  uri: { ...optionalString('Connection URI'), redact: redactUri },
  host: optionalString('Server host name'),
  port: integer('Server port', undefined, { min: 1, max: 65535 }),
  socket: optionalString('Folder holding the server UNIX socket'),
  username: optionalString('User name'),
  password: secret('Password'),
  password_file: optionalString('File holding the password'),
  database: optionalString('Database name'),
  ssl_mode: oneOf('TLS mode (default prefer; a uri may say sslmode instead)', SSL_MODES, undefined),
  ssl_ca: optionalString('PEM root certificate'),
  ssl_ca_file: optionalString('File holding the PEM root certificate'),
  ssl_certificate: optionalString('PEM client certificate'),
  ssl_certificate_file: optionalString('File holding the PEM client certificate'),
  ssl_key: secret('PEM client key'),
  ssl_key_file: optionalString('File holding the PEM client key'),
  max_connections: integer('Largest pool size of each Mauth process (each also keeps up to two listening connections; `--workers N` runs N processes)', 10, { min: 1 }),
  min_connections: integer('Smallest pool size', 0, { min: 0 }),
  connect_timeout: integer('Seconds to wait for a connection', 30, { min: 0 }),
  idle_timeout: integer('Seconds before an idle connection closes', 600, { min: 0 }),
  max_lifetime: integer('Seconds before a connection is replaced', 1800, { min: 0 }),
  statement_timeout: integer('Mauth: seconds a statement of the server or worker may run, or its transaction sit idle, before PostgreSQL ends it (0: no limit)', 10, { min: 0 }),
  lock_timeout: integer('Mauth: seconds a statement may wait for a lock before PostgreSQL gives up (0: no limit)', 5, { min: 0 }),
  request_deadline: integer('Mauth: seconds after which an unanswered request gets 503 with Retry-After (0: no deadline)', 15, { min: 0 }),
  job_lease: integer('Mauth: seconds a running background job is held (renewed every third of it); a job whose runner stops renewing is run again by another instance after this', 30, { min: 1, max: 3600 }),
  embedded_path: string('Folder of the embedded database, used when no server is configured', './data', { nonEmpty: true }),
};

export const database: Section<'database'> = {
  key: 'database',
  description: [
    'PostgreSQL. Either `uri: postgresql://user:password@host:5432/database` or `host`, `port`,',
    '`socket`, `username`, `password` (or `password_file`), `database`. TLS: `ssl_mode` (default',
    '`prefer`, as libpq: encrypted when offered, unverified; `verify-full` checks the CA and host',
    'name, `verify-ca` the CA only), `ssl_ca(_file)`, `ssl_certificate(_file)`, `ssl_key(_file)`;',
    'a `uri` may say `sslmode`, `sslrootcert`, `sslcert`, `sslkey` instead. With none of `uri`,',
    '`host`, `socket`, Mauth keeps an embedded database in `embedded_path`. Timeouts are in seconds.',
    'Mauth additions: `statement_timeout` and `lock_timeout` bound every statement of the server and',
    'worker on a PostgreSQL server (sent as startup parameters: behind PgBouncer, list them in its',
    '`ignore_startup_parameters` or set them to 0 and on the role instead); a request unanswered after',
    '`request_deadline` (a stalled or saturated database) gets 503 with Retry-After instead of',
    'waiting; 0 turns any of them off. `job_lease` (Mauth, default 30): how long a running job is held',
    'before another instance may take it back; the runner renews it every third of that while the job runs.',
    '`max_connections` is per process: every Mauth process (each worker of `mauth server --workers N`,',
    'each `mauth worker`) opens up to that many, plus up to two for LISTEN; PostgreSQL\'s own',
    '`max_connections` must cover the sum.',
  ],
  schema: databaseSchema,
  async check(config, report) {
    const section = config.database;
    if (section.uri !== undefined) {
      if (!/^postgres(ql)?:\/\//.test(section.uri)) report.error('must be a postgresql:// or postgres:// URI', 'uri');
      const split = SPLIT_KEYS.filter((key) => section[key] !== undefined);
      if (split.length > 0) report.error(`set either \`uri\` or ${split.map((key) => `\`${key}\``).join(', ')}, not both`, 'uri');
    }
    if (section.min_connections > section.max_connections) report.error('must not exceed max_connections', 'min_connections');
    await checkTls(section, report);
  },
};

async function checkTls(section: DatabaseConfig, report: Reporter): Promise<void> {
  const fromUri = section.uri === undefined ? {} : splitUriTls(section.uri).tls;
  if (fromUri.ssl_mode !== undefined && !(SSL_MODES as readonly string[]).includes(fromUri.ssl_mode)) {
    report.error(`sslmode must be one of ${SSL_MODES.join(', ')}`, 'uri');
  }
  if (section.ssl_mode !== undefined && fromUri.ssl_mode !== undefined && section.ssl_mode !== fromUri.ssl_mode) {
    report.error(`says ${section.ssl_mode} while the uri says sslmode=${fromUri.ssl_mode}: keep one`, 'ssl_mode');
  }
  for (const key of TLS_PEMS) {
    const file = `${key}_file` as const;
    if (section[key] !== undefined && section[file] !== undefined) report.error(`set only one of \`${key}\` and \`${file}\``, file);
    else if ((section[key] !== undefined || section[file] !== undefined) && fromUri[file] !== undefined) {
      report.error(`is given both here and by the uri's ${Object.keys(URI_TLS_PARAMS).find((p) => URI_TLS_PARAMS[p as keyof typeof URI_TLS_PARAMS] === file)}: keep one`, key);
    }
  }
  const tls = effectiveTls(section);
  const hasKey = section.ssl_key !== undefined || tls.ssl_key_file !== undefined;
  const hasCertificate = section.ssl_certificate !== undefined || tls.ssl_certificate_file !== undefined;
  if (hasKey !== hasCertificate) report.error('a client certificate and its key go together: set both or neither', hasKey ? 'ssl_certificate' : 'ssl_key');
  const weak = tls.ssl_mode === 'disable' || tls.ssl_mode === 'allow' || tls.ssl_mode === 'prefer';
  if (weak && hasCertificate) report.error(`a client certificate needs ssl_mode require, verify-ca or verify-full (it is ${tls.ssl_mode})`, 'ssl_certificate');
  if (weak && (section.ssl_ca !== undefined || tls.ssl_ca_file !== undefined)) {
    report.warn(`the CA is not checked with ssl_mode ${tls.ssl_mode}: set verify-full to check the server`, 'ssl_ca');
  }
  const embedded = section.uri === undefined && section.host === undefined && section.socket === undefined;
  const tlsKeys = (['ssl_mode', ...TLS_PEMS, 'ssl_ca_file', 'ssl_certificate_file', 'ssl_key_file'] as const).filter((key) => section[key] !== undefined);
  if (embedded && tlsKeys.length > 0) report.error('applies to a PostgreSQL server only (set `uri`, `host` or `socket`); the embedded database has no TLS', tlsKeys[0]);
  if (section.socket !== undefined && !weak) report.error(`TLS does not apply to a UNIX socket: use host, or ssl_mode prefer (it is ${tls.ssl_mode})`, 'ssl_mode');
  // Read now, so `config check` finds an unreadable file, and the client gets the PEM itself.
  for (const key of TLS_PEMS) {
    const file = tls[`${key}_file`];
    if (section[key] !== undefined || file === undefined) continue;
    try {
      section[key] = await readFile(file, 'utf8');
    } catch (error) {
      report.error(`cannot read ${file}: ${(error as Error).message}`, section[`${key}_file`] !== undefined ? `${key}_file` : 'uri');
    }
  }
}
