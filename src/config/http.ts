// `http`: the public URL, the issuer and the listeners (MAS defaults: the public listener `web`
// on [::]:8080 and the `internal` health listener on localhost:8081).
import { boolean, integer, listOf, oneOf, optionalMapping, optionalString, stringList, url } from './formats.js';
import { derived, required, shape } from './schema.js';
import type { Section } from './section.js';

export const RESOURCE_NAMES = [
  'discovery',
  'human',
  'oauth',
  'compat',
  'graphql',
  'assets',
  'adminapi',
  'health',
  'prometheus',
  'connection-info',
  // Mauth's own: the QR-login rendezvous (MSC4108, MSC4388), see src/rendezvous/.
  'rendezvous',
] as const;

const resource = shape({
  schema: {
    name: required(oneOf('What to serve', RESOURCE_NAMES, undefined)),
    path: optionalString('assets: the folder to serve on /assets/'),
    playground: boolean('graphql: serve the GraphQL playground', undefined),
    undocumented_oauth2_access: boolean('graphql: let OAuth 2.0 clients call it', undefined),
  },
  check(value, report) {
    if (value.name === undefined) report.error(`is required (one of ${RESOURCE_NAMES.join(', ')})`, 'name');
  },
});

/** Splits `host:port`, where an IPv6 host is bracketed (`[::]:8080`). */
export function parseAddress(address: string): { host: string; port: number } | undefined {
  const match = /^(?:\[([0-9A-Fa-f:.]+)\]|([^:[\]\s]+)):(\d{1,5})$/.exec(address);
  if (!match) return undefined;
  const port = Number(match[3]);
  if (port > 65535) return undefined;
  return { host: (match[1] ?? match[2]) as string, port };
}

const bind = shape({
  schema: {
    host: optionalString('Host to listen on with `port`; all addresses when absent'),
    port: integer('Port to listen on', undefined, { min: 0, max: 65535 }),
    address: optionalString('`host:port` to listen on, e.g. `[::]:8080` or `127.0.0.1:8080`'),
    socket: optionalString('Path of a UNIX socket to listen on'),
    mode: optionalString('Permissions of the UNIX socket, e.g. "600"'),
    fd: integer('File descriptor passed by the parent (systemd socket activation), offset by 3', undefined, { min: 0 }),
    kind: oneOf('Kind of the passed file descriptor', ['tcp', 'unix'], undefined),
  },
  check(value, report) {
    const forms = [value.port !== undefined, value.address !== undefined, value.socket !== undefined, value.fd !== undefined];
    const count = forms.filter(Boolean).length;
    if (count === 0) {
      report.error(value.host === undefined ? 'needs `port` (with an optional `host`), `address` (host:port), `socket` or `fd`' : 'is required with `host`', value.host === undefined ? '' : 'port');
    } else if (count > 1) {
      report.error('set only one of `port` (with `host`), `address`, `socket` and `fd`');
    } else if (value.address !== undefined && !parseAddress(value.address)) {
      report.error('must be `host:port` with a port from 0 to 65535, e.g. `[::]:8080` or `127.0.0.1:8080`', 'address');
    } else if (value.host !== undefined && value.port === undefined) {
      report.error('`host` goes with `port`; use `address` for host:port', 'host');
    }
  },
});

const tls = shape({
  schema: {
    certificate: optionalString('PEM certificate chain'),
    certificate_file: optionalString('File holding the PEM certificate chain'),
    key: optionalString('PEM private key', { sensitive: true }),
    key_file: optionalString('File holding the PEM or DER private key'),
    password: optionalString('Password of an encrypted private key', { sensitive: true }),
    password_file: optionalString('File holding the password of the private key'),
  },
  check(value, report) {
    for (const [inline, file] of [
      ['certificate', 'certificate_file'],
      ['key', 'key_file'],
    ] as const) {
      if (value[inline] === undefined && value[file] === undefined) report.error(`needs \`${inline}\` or \`${file}\``);
      if (value[inline] !== undefined && value[file] !== undefined) report.error(`set only one of \`${inline}\` and \`${file}\``, file);
    }
    if (value.password !== undefined && value.password_file !== undefined) report.error('set only one of `password` and `password_file`', 'password_file');
  },
});

const listener = shape({
  schema: {
    // The section's check names unnamed listeners `listener-<index>`.
    name: derived(optionalString('Name shown in logs and metrics')),
    resources: listOf('Resources to serve', resource),
    binds: listOf('Addresses to listen on', bind),
    prefix: optionalString('URL path prefix to mount the resources under, e.g. /auth', { pattern: /^\//, patternMessage: 'must start with /' }),
    proxy_protocol: boolean("Accept HAProxy's PROXY protocol v1", false),
    tls: optionalMapping('Serve HTTPS with this certificate and key', tls),
  },
  check(value, report) {
    if (value.resources.length === 0) report.error('must list at least one resource', 'resources');
    if (value.binds.length === 0) report.error('must list at least one address to listen on', 'binds');
    // Accepted by MAS, not served by Mauth yet: refuse rather than silently serve something else.
    if (value.tls !== undefined) report.error('is not supported yet: terminate TLS at the reverse proxy', 'tls');
    if (value.proxy_protocol) report.error('is not supported yet: let the reverse proxy send X-Forwarded-For', 'proxy_protocol');
    if (value.prefix !== undefined && value.prefix !== '/') report.error('is not supported yet: serve Mauth at the root of its host', 'prefix');
    value.binds.forEach((bind, index) => {
      if (bind.fd !== undefined) report.error('is not supported yet: use `address`, `host`/`port` or `socket`', `binds[${index}].fd`);
    });
  },
});

export const DEFAULT_LISTENERS = [
  {
    name: 'web',
    resources: [{ name: 'discovery' }, { name: 'human' }, { name: 'oauth' }, { name: 'compat' }, { name: 'graphql' }, { name: 'assets' }, { name: 'rendezvous' }],
    binds: [{ address: '[::]:8080' }],
    proxy_protocol: false,
  },
  {
    name: 'internal',
    resources: [{ name: 'health' }],
    binds: [{ host: 'localhost', port: 8081 }],
    proxy_protocol: false,
  },
];

export const DEFAULT_TRUSTED_PROXIES = ['192.168.0.0/16', '172.16.0.0/12', '10.0.0.0/8', '127.0.0.0/8', 'fd00::/8', '::1/128'];

/** Parses an http(s) URL and makes its path end with `/`, so relative URLs resolve under it. */
export function withTrailingSlash(value: string): string {
  const parsed = new URL(value);
  if (!parsed.pathname.endsWith('/')) parsed.pathname += '/';
  return parsed.href;
}

export const httpSchema = {
  public_base: url('Public URL base used to build absolute URLs', 'http://127.0.0.1:8080/', ['http', 'https']),
  issuer: derived(url('OIDC issuer; defaults to public_base', undefined, ['http', 'https'])),
  listeners: listOf('HTTP listeners', listener, DEFAULT_LISTENERS),
  trusted_proxies: stringList('Reverse proxies allowed to set X-Forwarded-For', DEFAULT_TRUSTED_PROXIES, 'ip-network'),
  shutdown_grace: integer('Mauth: seconds requests in flight and running jobs may take to finish after SIGTERM/SIGINT', 10, { min: 0 }),
};

export const http: Section<'http'> = {
  key: 'http',
  description: [
    'Web server. `public_base` is where users and clients reach Mauth; every URL Mauth hands out',
    'is built from it. `issuer` (the OIDC issuer) defaults to `public_base`.',
    '`trusted_proxies` may set X-Forwarded-For (so may whatever connects to a `socket` bind, as in',
    'MAS). Listener resources: discovery, human, oauth, compat, graphql, assets, adminapi, health,',
    'prometheus, and Mauth\'s own `rendezvous` (QR login: MSC4108, MSC4388); binds:',
    '`address: "[::]:8080"`, `host` + `port`, `socket` or `fd`.',
    'Mauth addition: on SIGTERM or SIGINT, requests in flight and running jobs get',
    '`shutdown_grace` seconds to finish (no new connections meanwhile); a second signal stops at once.',
  ],
  schema: httpSchema,
  check(config, report) {
    const section = config.http;
    section.public_base = withTrailingSlash(section.public_base);
    if (new URL(section.public_base).pathname !== '/') {
      report.error('must be the root of a host (a path such as /auth/ is not supported yet)', 'public_base');
    }
    section.issuer = section.issuer === undefined ? section.public_base : new URL(section.issuer).href;
    section.listeners.forEach((entry, index) => {
      entry.name ??= `listener-${index}`;
    });
  },
};
