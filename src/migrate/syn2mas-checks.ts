// `mauth syn2mas check` (also run before `migrate`): what would make a migration from Synapse
// wrong (errors: it refuses) or lossy (warnings: the operator should know). The refusals follow
// MAS's syn2mas, plus a few of Mauth's own: a Synapse that is still in use, password provider
// modules, SSO providers with nowhere to map their users.
import type { Config, PasswordScheme } from '../config/types.js';
import type { Sql } from '../storage/db.js';
import { countUsers } from '../storage/bulk-import.js';
import { facts } from '../storage/synapse-source.js';
import type { SynapseConfig } from './synapse-config.js';

export interface CheckReport {
  errors: string[];
  warnings: string[];
}

/** `check` and `migrate` exit with these when they refuse, and `check` when it only warns (as MAS's syn2mas). */
export const EXIT_REFUSED = 10;
export const EXIT_WARNINGS = 11;

/**
 * Synapse provider ids (`user_external_ids.auth_provider`) → Mauth upstream provider ids: from
 * `--upstream-provider-mapping idp:ULID` and from providers configured with `synapse_idp_id`.
 */
export function providerMappings(config: Config, cli: string[]): { mappings: Map<string, string>; errors: string[] } {
  const mappings = new Map<string, string>();
  const errors: string[] = [];
  const configured = new Set(config.upstream_oauth2.providers.map((p) => p.id));
  for (const provider of config.upstream_oauth2.providers) {
    if (provider.synapse_idp_id) mappings.set(provider.synapse_idp_id, provider.id);
  }
  for (const raw of cli) {
    const colon = raw.lastIndexOf(':');
    const idp = colon > 0 ? raw.slice(0, colon) : '';
    const id = colon > 0 ? raw.slice(colon + 1).toUpperCase() : '';
    if (!idp || !id) errors.push(`--upstream-provider-mapping ${JSON.stringify(raw)}: expected <synapse idp_id>:<upstream provider id>`);
    else if (!configured.has(id)) errors.push(`--upstream-provider-mapping ${raw}: no upstream provider ${id} in upstream_oauth2.providers`);
    else mappings.set(idp, id);
  }
  return { mappings, errors };
}

/** The scheme Synapse's bcrypt hashes are stored under: the highest bcrypt version configured. */
export function synapseScheme(config: Config): PasswordScheme | undefined {
  return config.passwords.schemes.filter((s) => s.algorithm === 'bcrypt').sort((a, b) => b.version - a.version)[0];
}

export interface CheckInput {
  config: Config;
  mauth: Sql;
  synapse: Sql;
  synapseConfig: SynapseConfig | undefined;
  mappings: Map<string, string>;
  /** Refuse when a device was seen less than this many minutes ago (0: do not check). */
  activeWithinMinutes: number;
  now: Date;
  /** A dry run may run beside a live Synapse: recent activity only warns. */
  dryRun: boolean;
}

export async function checkSyn2mas(input: CheckInput): Promise<CheckReport> {
  const { config, synapseConfig, mappings } = input;
  const errors: string[] = [];
  const warnings: string[] = [];
  const homeserver = config.matrix.homeserver;

  if (!synapseConfig) {
    warnings.push("No Synapse configuration given (--synapse-config): its server_name, password providers and SSO providers are not checked.");
  } else {
    if (synapseConfig.serverName !== homeserver) {
      errors.push(`Synapse's server_name (${JSON.stringify(synapseConfig.serverName)}) differs from Mauth's matrix.homeserver (${JSON.stringify(homeserver)}).`);
    }
    for (const module of synapseConfig.passwordProviders) {
      errors.push(`Synapse checks passwords with ${module}; Mauth cannot take those passwords over. Move those users to an upstream provider (or LDAP) first.`);
    }
    for (const sso of synapseConfig.ssoProviders) {
      if (!mappings.has(sso.idpId)) {
        errors.push(
          `Synapse's ${sso.kind.toUpperCase()} provider ${JSON.stringify(sso.idpId)}${sso.issuer ? ` (issuer ${sso.issuer})` : ''} has no Mauth upstream provider: ` +
            `add --upstream-provider-mapping ${sso.idpId}:<provider id>, or set synapse_idp_id on the provider.`,
        );
      }
    }
    if (synapseConfig.jwtEnabled) warnings.push('Synapse logs users in with JSON Web Tokens (jwt_config); Mauth does not: those logins stop.');
    if (synapseConfig.allowGuestAccess) warnings.push('Synapse allows guest access (allow_guest_access); Mauth has no guest accounts: disable it.');
  }

  const existing = await countUsers(input.mauth);
  if (existing > 0) errors.push(`Mauth's database already has ${existing} users: a migration runs only once, into an empty database.`);

  const synapse = await facts(input.synapse, homeserver);
  if (synapse.foreignUsers > 0) {
    errors.push(`${synapse.foreignUsers} Synapse users are not of the server ${homeserver} (Mauth's matrix.homeserver): is it the right database?`);
  }
  if (input.activeWithinMinutes > 0 && synapse.lastSeen) {
    const minutes = (input.now.getTime() - synapse.lastSeen.getTime()) / 60_000;
    if (minutes < input.activeWithinMinutes) {
      const message = `Synapse is still in use: a device was last seen ${Math.max(0, Math.floor(minutes))} minutes ago (less than ${input.activeWithinMinutes}). Stop Synapse first, or set --active-within 0 to skip this check.`;
      (input.dryRun ? warnings : errors).push(message);
    }
  }

  const scheme = synapseScheme(config);
  if (synapse.usersWithPassword > 0) {
    if (!config.passwords.enabled) warnings.push(`${synapse.usersWithPassword} users have a password, but passwords.enabled is false: they cannot log in with it.`);
    if (!scheme) {
      errors.push(`${synapse.usersWithPassword} users have a bcrypt password: add a bcrypt scheme to passwords.schemes (secret: Synapse's password_config.pepper, unicode_normalization: true) below the newest one.`);
    } else {
      if (synapseConfig && (scheme.secret ?? undefined) !== synapseConfig.pepper) {
        errors.push(`passwords.schemes version ${scheme.version} (bcrypt) must have Synapse's password_config.pepper as its secret, or no passwords will verify.`);
      }
      if (!scheme.unicode_normalization) {
        warnings.push(`passwords.schemes version ${scheme.version} (bcrypt) does not set unicode_normalization: true; Synapse normalised passwords, so some with non-ASCII characters will not verify.`);
      }
    }
  }

  if (synapse.guests > 0) warnings.push(`${synapse.guests} guest accounts are not migrated (Mauth has no guests); their sessions end.`);
  if (synapse.appserviceUsers > 0) {
    warnings.push(`${synapse.appserviceUsers} application service users are not migrated: appservices authenticate to Synapse with their own token.`);
  }
  if (synapse.upperCaseUsers > 0) warnings.push(`${synapse.upperCaseUsers} users have upper-case letters in their name, which Mauth's usernames cannot hold: they are not migrated.`);
  for (const { auth_provider, count } of synapse.externalIds) {
    if (mappings.has(auth_provider)) continue;
    if (synapseConfig?.ssoProviders.some((p) => p.idpId === auth_provider)) continue; // an error above already
    warnings.push(`${count} links of users to ${JSON.stringify(auth_provider)} (user_external_ids) have no upstream provider mapping and are not migrated.`);
  }
  return { errors, warnings };
}
