// What `mauth syn2mas` needs from Synapse's homeserver.yaml: the server name, the database it
// reads, the password pepper, and how users log in besides passwords (password provider modules,
// SSO providers with the `idp_id` Synapse records in user_external_ids). Several files merge at
// the top level, later ones winning, as Synapse reads them.
import { readFile } from 'node:fs/promises';
import YAML from 'yaml';
import type { SourceTarget } from '../storage/synapse-source.js';

export interface SsoProvider {
  /** As stored in user_external_ids.auth_provider: `oidc`, `oidc-<idp_id>`, `cas`, `saml`. */
  idpId: string;
  kind: 'oidc' | 'cas' | 'saml';
  issuer?: string;
}

export interface SynapseConfig {
  files: string[];
  serverName?: string;
  /** The PostgreSQL database, or why it cannot be read. */
  database: { target: SourceTarget } | { problem: string };
  pepper?: string;
  passwordsEnabled: boolean;
  /** Modules (or a disabled local password database) that check passwords outside Synapse's table. */
  passwordProviders: string[];
  ssoProviders: SsoProvider[];
  jwtEnabled: boolean;
  allowGuestAccess: boolean;
}

type Yaml = Record<string, unknown>;

const asObject = (value: unknown): Yaml => (value && typeof value === 'object' && !Array.isArray(value) ? (value as Yaml) : {});
const asList = (value: unknown): unknown[] => (Array.isArray(value) ? value : []);
const asString = (value: unknown): string | undefined => (typeof value === 'string' && value !== '' ? value : undefined);

/**
 * Modules that are known to check passwords (Synapse's password auth provider callbacks):
 * synapse-ldap3, the REST and shared-secret authenticators, and anything named so.
 */
const PASSWORD_MODULE = /ldap|auth_provider|password|shared_secret|rest_auth|authenticator/i;

function databaseTarget(section: Yaml): SynapseConfig['database'] {
  const name = asString(section.name) ?? 'sqlite3';
  if (name !== 'psycopg2' && name !== 'psycopg') {
    return { problem: `Synapse's database is ${name}; only PostgreSQL (psycopg2) can be migrated (port Synapse to PostgreSQL first)` };
  }
  const args = asObject(section.args);
  if (args.database !== undefined && args.dbname !== undefined) return { problem: 'Synapse\'s database.args sets both `database` and `dbname`' };
  const port = args.port === undefined ? undefined : Number(args.port);
  return {
    target: {
      host: asString(args.host),
      port: Number.isInteger(port) ? port : undefined,
      user: asString(args.user),
      password: asString(args.password),
      database: asString(args.dbname) ?? asString(args.database),
    },
  };
}

function ssoProviders(config: Yaml): SsoProvider[] {
  const out: SsoProvider[] = [];
  const oidc = (entry: Yaml) => {
    const id = asString(entry.idp_id) ?? 'oidc';
    out.push({ idpId: id === 'oidc' ? id : `oidc-${id}`, kind: 'oidc', issuer: asString(entry.issuer) });
  };
  for (const entry of asList(config.oidc_providers)) {
    if (asObject(entry).enabled !== false) oidc(asObject(entry));
  }
  const legacy = asObject(config.oidc_config);
  if (legacy.enabled === true) oidc(legacy);
  const cas = config.cas_config;
  if (cas && asObject(cas).enabled !== false) out.push({ idpId: 'cas', kind: 'cas' });
  const saml = asObject(config.saml2_config);
  if (saml.enabled !== false && (saml.sp_config || saml.config_path)) out.push({ idpId: 'saml', kind: 'saml' });
  return out;
}

export function parseSynapseConfig(config: Yaml, files: string[] = []): SynapseConfig {
  const passwords = asObject(config.password_config);
  const moduleNames = (list: unknown) => asList(list).map((m) => asString(asObject(m).module)).filter((m): m is string => m !== undefined);
  // Every legacy `password_providers` entry checks passwords; of `modules`, those that look like it.
  const passwordProviders = [...new Set([...moduleNames(config.password_providers), ...moduleNames(config.modules).filter((m) => PASSWORD_MODULE.test(m))])];
  if (passwords.enabled !== false && passwords.localdb_enabled === false) passwordProviders.push('password_config.localdb_enabled: false');
  return {
    files,
    serverName: asString(config.server_name),
    database: databaseTarget(asObject(config.database)),
    pepper: asString(passwords.pepper),
    passwordsEnabled: passwords.enabled !== false,
    passwordProviders,
    ssoProviders: ssoProviders(config),
    jwtEnabled: asObject(config.jwt_config).enabled === true,
    allowGuestAccess: config.allow_guest_access === true,
  };
}

export async function loadSynapseConfig(files: string[]): Promise<SynapseConfig> {
  const merged: Yaml = {};
  for (const file of files) {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      throw new Error(`cannot read the Synapse configuration ${file}: ${(err as Error).message}`);
    }
    let parsed: unknown;
    try {
      parsed = YAML.parse(text);
    } catch (err) {
      throw new Error(`the Synapse configuration ${file} is not YAML: ${(err as Error).message}`);
    }
    Object.assign(merged, asObject(parsed));
  }
  return parseSynapseConfig(merged, files);
}
