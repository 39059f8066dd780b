// `config generate`: a complete configuration with every section's defaults written out and
// fresh secrets, commented for the operator who edits it next. `example: true` gives the same
// document with the published placeholder secrets instead (for config.example.yaml).
import { generateKeyPair, randomBytes, randomInt } from 'node:crypto';
import { promisify } from 'node:util';
import YAML, { isMap, isScalar, type Pair } from 'yaml';
import { applySchema } from './apply-schema.js';
import { EXAMPLE_ENCRYPTION_SECRET, EXAMPLE_KEYS, EXAMPLE_MATRIX_SECRET } from './example-secrets.js';
import { withTrailingSlash } from './http.js';
import { ProblemList } from './problems.js';
import { ROOT_SCHEMA, SECTIONS } from './sections.js';

export interface GenerateOptions {
  /** `http.public_base`; default `http://127.0.0.1:8080/`. */
  publicBase?: string;
  /** `matrix.homeserver`, the homeserver's server_name; default `localhost:8008`. */
  homeserver?: string;
  /** Use the embedded database (the default); false writes `database.uri` instead. */
  embedded?: boolean;
  /** `database.uri` when not embedded; default `postgresql://mauth@localhost:5432/mauth`. */
  databaseUri?: string;
  /** Deterministic output with the published placeholder secrets, for config.example.yaml. */
  example?: boolean;
}

const ALPHANUMERIC = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

export function randomAlphanumeric(length: number): string {
  let result = '';
  for (let i = 0; i < length; i += 1) result += ALPHANUMERIC[randomInt(ALPHANUMERIC.length)];
  return result;
}

const generateKeyPairAsync = promisify(generateKeyPair);

async function freshSigningKeys(): Promise<{ kid: string; key: string }[]> {
  const [rsa, ec] = await Promise.all([
    generateKeyPairAsync('rsa', { modulusLength: 2048 }),
    generateKeyPairAsync('ec', { namedCurve: 'prime256v1' }),
  ]);
  return [rsa, ec].map(({ privateKey }) => ({
    kid: randomAlphanumeric(10),
    key: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
  }));
}

/** Every section with its defaults, as the schemas give them. */
function defaults(): Record<string, Record<string, unknown>> {
  const problems = new ProblemList();
  return applySchema(ROOT_SCHEMA, {}, problems.at('')) as Record<string, Record<string, unknown>>;
}

export async function generateConfig(options: GenerateOptions = {}): Promise<string> {
  const config = defaults();
  const example = options.example === true;

  config.http!.public_base = withTrailingSlash(options.publicBase ?? 'http://127.0.0.1:8080/');
  delete config.http!.issuer;

  const database = config.database!;
  if (options.embedded === false) {
    database.uri = options.databaseUri ?? 'postgresql://mauth@localhost:5432/mauth';
    delete database.embedded_path;
  }

  config.secrets = {
    encryption: example ? EXAMPLE_ENCRYPTION_SECRET : randomBytes(32).toString('hex'),
    keys: example ? EXAMPLE_KEYS.map((key) => ({ ...key })) : await freshSigningKeys(),
  };

  const matrix = config.matrix!;
  config.matrix = {
    kind: matrix.kind,
    homeserver: options.homeserver ?? matrix.homeserver,
    secret: example ? EXAMPLE_MATRIX_SECRET : randomAlphanumeric(32),
    endpoint: matrix.endpoint,
  };

  // The deprecated spelling is accepted when loading, not advertised.
  delete config.account!.registration_token_required;

  // Undefined (unset) values are left out of the YAML.
  const document = new YAML.Document(config);
  document.commentBefore = [
    example
      ? ' Mauth configuration example (`mauth config generate --example`). Its secrets are PUBLIC'
      : ' Mauth configuration, written by `mauth config generate`. Keep this file secret: it holds',
    example ? ' placeholders: run `mauth config generate` for a configuration of your own.' : ' the encryption key, signing keys and the homeserver secret.',
    ' Key names follow MAS (matrix-authentication-service), so a MAS config.yaml loads as it is.',
    ' Check changes with `mauth config check -c <file>`.',
  ].join('\n');

  if (isMap(document.contents)) {
    (document.contents.items as Pair[]).forEach((pair, index) => {
      const key: unknown = pair.key;
      if (!isScalar(key)) return;
      const section = SECTIONS.find((candidate) => candidate.key === key.value);
      if (!section) return;
      key.spaceBefore = index > 0;
      key.commentBefore = section.description.map((line) => ` ${line}`).join('\n');
    });
  }
  return document.toString({ lineWidth: 0 });
}
