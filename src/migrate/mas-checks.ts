// What `mauth import-mas` checks before it copies anything: that Mauth can verify every password
// it takes over (a scheme of the same version and algorithm), that the upstream providers and
// static clients sessions depend on are configured in Mauth as they were in MAS, that MAS is no
// longer in use, and that Mauth is still empty. Warnings say what is not carried over.
import type { Config } from '../config/types.js';
import { staticOnlyViolations } from '../policy/client-registration.js';
import { countUsers } from '../storage/bulk-import.js';
import type { Sql } from '../storage/db.js';
import { facts, readDynamicClients } from '../storage/mas-source.js';
import { fromUuid } from './ids.js';
import { decryptMasSecret } from './mas-secrets.js';
import { clientPayload } from './mas-clients.js';
import type { CheckReport } from './syn2mas-checks.js';

/** The algorithm a stored hash was made with, by its prefix. */
export function hashAlgorithm(hash: string): 'argon2id' | 'bcrypt' | 'pbkdf2' | undefined {
  if (hash.startsWith('$argon2id$')) return 'argon2id';
  if (/^\$2[abxy]?\$/.test(hash)) return 'bcrypt';
  if (hash.startsWith('$pbkdf2')) return 'pbkdf2';
  return undefined;
}

export interface MasCheckInput {
  config: Config;
  mauth: Sql;
  mas: Sql;
  activeWithinMinutes: number;
  now: Date;
  dryRun: boolean;
}

export async function checkImportMas(input: MasCheckInput): Promise<CheckReport> {
  const { config } = input;
  const errors: string[] = [];
  const warnings: string[] = [];

  const existing = await countUsers(input.mauth);
  if (existing > 0) errors.push(`Mauth's database already has ${existing} users: an import runs only once, into an empty database.`);

  const mas = await facts(input.mas);
  for (const { version, count, sample } of mas.passwordVersions) {
    const scheme = config.passwords.schemes.find((s) => s.version === version);
    if (!scheme) errors.push(`${count} passwords use MAS's scheme version ${version}, which passwords.schemes lacks: copy MAS's passwords section.`);
    else if (hashAlgorithm(sample) !== scheme.algorithm) {
      errors.push(`passwords.schemes version ${version} is ${scheme.algorithm}, but MAS's hashes of that version are ${hashAlgorithm(sample) ?? 'of an unknown kind'}.`);
    }
  }
  const providers = new Set(config.upstream_oauth2.providers.map((p) => p.id));
  for (const { provider_id, count } of mas.linkedProviders) {
    const id = fromUuid(provider_id);
    if (!providers.has(id)) errors.push(`${count} users are linked to MAS's upstream provider ${id}, which upstream_oauth2.providers lacks: copy it, with the same id.`);
  }
  const clients = new Set(config.clients.map((c) => c.client_id));
  for (const { client_id, sessions } of mas.staticClientsInUse) {
    const id = fromUuid(client_id);
    if (!clients.has(id)) errors.push(`${sessions} live sessions belong to MAS's configured client ${id}, which \`clients\` lacks: copy it, with the same id.`);
  }
  if (input.activeWithinMinutes > 0 && mas.lastActive) {
    const minutes = (input.now.getTime() - mas.lastActive.getTime()) / 60_000;
    if (minutes < input.activeWithinMinutes) {
      const message = `MAS is still in use: a session was active ${Math.max(0, Math.floor(minutes))} minutes ago (less than ${input.activeWithinMinutes}). Stop MAS first, or set --active-within 0 to skip this check.`;
      (input.dryRun ? warnings : errors).push(message);
    }
  }

  for (const client of await readDynamicClients(input.mas)) {
    const id = fromUuid(client.oauth2_client_id);
    if (client.encrypted_client_secret && decryptMasSecret(config.secrets.encryption, client.encrypted_client_secret) === undefined) {
      warnings.push(`The secret of client ${id} cannot be decrypted with secrets.encryption (is it MAS's key?): the client cannot authenticate after the import.`);
    }
    const staticOnly = staticOnlyViolations(clientPayload(client, input.now, { deviceCodeGrant: config.oauth.device_code_grant_enabled }));
    if (staticOnly.length > 0) {
      warnings.push(`Client ${id} authenticates in a way Mauth allows only configured clients (${staticOnly.map((v) => v.field).join(', ')}): its sessions stop refreshing.`);
    }
  }
  if (mas.guests > 0) warnings.push(`${mas.guests} guest accounts are not imported (Mauth has no guests).`);
  return { errors, warnings };
}

