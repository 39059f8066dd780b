// `database`: a PostgreSQL server by `uri` or by separate keys, pool sizes and timeouts (seconds).
// With neither `uri`, `host` nor `socket`, Mauth runs an embedded PostgreSQL (PGlite) whose files
// live in `embedded_path`, so a first run needs nothing installed.
import { integer, oneOf, optionalString, REDACTED, secret, string } from './formats.js';
import type { Section } from './section.js';

/** `postgresql://user:secret@host/db?password=x` → `postgresql://user:<redacted>@host/db?password=<redacted>`. */
export function redactUri(uri: string): string {
  return uri
    .replace(/^([a-z][a-z0-9+.-]*:\/\/[^:/?#@]*:)[^@/?#]*@/i, `$1${REDACTED}@`)
    .replace(/([?&]password=)[^&#]*/gi, `$1${REDACTED}`);
}

const SPLIT_KEYS = ['host', 'port', 'socket', 'username', 'password', 'password_file', 'database'] as const;

export const database: Section<'database'> = {
  key: 'database',
  description: [
    'PostgreSQL. Either `uri: postgresql://user:password@host:5432/database` or `host`, `port`,',
    '`socket`, `username`, `password` (or `password_file`), `database`; `ssl_mode`, `ssl_ca(_file)`,',
    '`ssl_certificate(_file)`, `ssl_key(_file)` for TLS. With none of `uri`, `host`, `socket`,',
    'Mauth keeps an embedded database in `embedded_path`. Timeouts are in seconds.',
  ],
  schema: {
    uri: { ...optionalString('Connection URI'), redact: redactUri },
    host: optionalString('Server host name'),
    port: integer('Server port', undefined, { min: 1, max: 65535 }),
    socket: optionalString('Folder holding the server UNIX socket'),
    username: optionalString('User name'),
    password: secret('Password'),
    password_file: optionalString('File holding the password'),
    database: optionalString('Database name'),
    ssl_mode: oneOf('TLS mode', ['disable', 'allow', 'prefer', 'require', 'verify-ca', 'verify-full'], undefined),
    ssl_ca: optionalString('PEM root certificate'),
    ssl_ca_file: optionalString('File holding the PEM root certificate'),
    ssl_certificate: optionalString('PEM client certificate'),
    ssl_certificate_file: optionalString('File holding the PEM client certificate'),
    ssl_key: secret('PEM client key'),
    ssl_key_file: optionalString('File holding the PEM client key'),
    max_connections: integer('Largest pool size', 10, { min: 1 }),
    min_connections: integer('Smallest pool size', 0, { min: 0 }),
    connect_timeout: integer('Seconds to wait for a connection', 30, { min: 0 }),
    idle_timeout: integer('Seconds before an idle connection closes', 600, { min: 0 }),
    max_lifetime: integer('Seconds before a connection is replaced', 1800, { min: 0 }),
    embedded_path: string('Folder of the embedded database, used when no server is configured', './data', { nonEmpty: true }),
  },
  check(config, report) {
    const section = config.database;
    if (section.uri !== undefined) {
      if (!/^postgres(ql)?:\/\//.test(section.uri)) report.error('must be a postgresql:// or postgres:// URI', 'uri');
      const split = SPLIT_KEYS.filter((key) => section[key] !== undefined);
      if (split.length > 0) report.error(`set either \`uri\` or ${split.map((key) => `\`${key}\``).join(', ')}, not both`, 'uri');
    }
    for (const key of ['ssl_ca', 'ssl_certificate', 'ssl_key'] as const) {
      if (section[key] !== undefined && section[`${key}_file`] !== undefined) report.error(`set only one of \`${key}\` and \`${key}_file\``, `${key}_file`);
    }
    const hasKey = section.ssl_key !== undefined || section.ssl_key_file !== undefined;
    const hasCertificate = section.ssl_certificate !== undefined || section.ssl_certificate_file !== undefined;
    if (hasKey !== hasCertificate) report.error('a client certificate and its key go together: set both or neither', hasKey ? 'ssl_certificate' : 'ssl_key');
    if (section.min_connections > section.max_connections) report.error('must not exceed max_connections', 'min_connections');
  },
};
