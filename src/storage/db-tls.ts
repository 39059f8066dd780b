// TLS to the database server, with libpq's (and MAS's) meaning of `ssl_mode`, turned into what
// postgres.js takes: `false`, `'prefer'`, `'require'` (encrypted, unverified) or node:tls options.
import { readFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { checkServerIdentity, type ConnectionOptions, type PeerCertificate } from 'node:tls';
import { effectiveTls } from '../config/database.js';
import type { DatabaseConfig } from '../config/types.js';

export type ClientTls = false | 'prefer' | 'require' | ConnectionOptions;

async function pem(inline: string | undefined, file: string | undefined, what: string): Promise<string | undefined> {
  if (inline !== undefined) return inline;
  if (file === undefined) return undefined;
  try {
    return await readFile(file, 'utf8');
  } catch (error) {
    throw new Error(`cannot read the database ${what} ${file}: ${(error as Error).message}`, { cause: error });
  }
}

/** The server hosts named by the configuration, as postgres.js reads them (comma-separated). */
function configuredHosts(config: DatabaseConfig): string[] {
  let hosts = config.host ?? '';
  if (config.uri !== undefined) {
    const authority = config.uri.slice(config.uri.indexOf('://') + 3).split(/[?/]/)[0] ?? '';
    hosts = decodeURIComponent(authority.slice(authority.lastIndexOf('@') + 1));
  }
  return hosts
    .split(',')
    .map((entry) => (entry.startsWith('[') ? entry.slice(1, entry.indexOf(']')) : entry.split(':')[0] ?? ''))
    .filter(Boolean);
}

/**
 * postgres.js sends a DNS host name as the TLS servername, which node:tls checks; for an IP
 * address it sends none, and node:tls would then check the name "localhost". The certificate
 * must name the address that was dialled: with several configured addresses, one of them.
 */
function hostNameCheck(hosts: string[]) {
  return (name: string, cert: PeerCertificate): Error | undefined => {
    const addresses = hosts.filter((host) => isIP(host) !== 0);
    const candidates = hosts.includes(name) || addresses.length === 0 ? [name] : addresses;
    const results = candidates.map((candidate) => checkServerIdentity(candidate, cert));
    return results.includes(undefined) ? undefined : results[0];
  };
}

export async function clientTls(config: DatabaseConfig): Promise<ClientTls> {
  // PostgreSQL never speaks TLS on a UNIX socket (`config check` refuses a stronger mode there).
  if (config.socket !== undefined) return false;
  const tls = effectiveTls(config);
  const ca = await pem(config.ssl_ca, tls.ssl_ca_file, 'CA certificate');
  const cert = await pem(config.ssl_certificate, tls.ssl_certificate_file, 'client certificate');
  const key = await pem(config.ssl_key, tls.ssl_key_file, 'client key');
  const client = cert !== undefined && key !== undefined ? { cert, key } : {};
  switch (tls.ssl_mode) {
    case 'disable':
      return false;
    // postgres.js cannot try plaintext first; `allow` gets the encryption whenever it is offered.
    case 'allow':
    case 'prefer':
      return 'prefer';
    case 'require':
      // As libpq and MAS: with a CA given, `require` checks the chain as verify-ca does.
      if (ca !== undefined) return { ca, ...client, rejectUnauthorized: true, checkServerIdentity: () => undefined };
      return cert !== undefined ? { ...client, rejectUnauthorized: false } : 'require';
    case 'verify-ca':
      // The chain is checked; the name in the certificate is not.
      return { ...(ca !== undefined ? { ca } : {}), ...client, rejectUnauthorized: true, checkServerIdentity: () => undefined };
    case 'verify-full':
      return { ...(ca !== undefined ? { ca } : {}), ...client, rejectUnauthorized: true, checkServerIdentity: hostNameCheck(configuredHosts(config)) };
  }
}
