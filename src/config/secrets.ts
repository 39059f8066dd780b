// `secrets`: the encryption key (cookies, encrypted columns) and the signing keys (ID tokens,
// signed userinfo, private_key_jwt to upstreams). Keys are read from `key`, `key_file` or every
// file in `keys_dir`, in PKCS#1, PKCS#8 or SEC1, PEM or DER, encrypted or not. Once loaded,
// `key` always holds an unencrypted PKCS#8 PEM and `kid` is set (derived from the key when
// absent), so the rest of Mauth can hand keys straight to jose's importPKCS8.
import { createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { calculateJwkThumbprint, type JWK } from 'jose';
import { listOf, optionalString, secret } from './formats.js';
import type { Reporter } from './problems.js';
import { derived, required, shape, type Infer } from './schema.js';
import type { Section } from './section.js';
import { EXAMPLE_ENCRYPTION_SECRET, EXAMPLE_KEYS } from './example-secrets.js';

const SUPPORTED_CURVES = ['prime256v1', 'secp384r1', 'secp256k1'];

const signingKey = shape({
  schema: {
    kid: derived(optionalString('Key ID, unique in the list and stable across restarts; derived from the key when absent', { nonEmpty: true })),
    key: derived(optionalString('PEM private key', { sensitive: true })),
    key_file: optionalString('File holding the PEM or DER private key'),
    password: optionalString('Password of an encrypted PKCS#8 key', { sensitive: true }),
    password_file: optionalString('File holding the password'),
  },
  check(value, report) {
    if (value.key === undefined && value.key_file === undefined) report.error('needs `key` or `key_file`');
    if (value.key !== undefined && value.key_file !== undefined) report.error('set only one of `key` and `key_file`', 'key_file');
    if (value.password !== undefined && value.password_file !== undefined) report.error('set only one of `password` and `password_file`', 'password_file');
  },
});

/** A loaded signing key: `key` an unencrypted PKCS#8 PEM, `kid` set, `password` gone. */
type SigningKey = Infer<typeof signingKey.schema>;
/** A signing key as configured (or found in `keys_dir`), before it is read and normalised. */
type KeySource = Partial<SigningKey>;

async function readKeyMaterial(key: KeySource, report: Reporter): Promise<{ data: Buffer; passwords: string[] } | undefined> {
  let data: Buffer;
  if (key.key !== undefined) {
    data = Buffer.from(key.key);
  } else {
    try {
      data = await readFile(key.key_file as string);
    } catch (error) {
      report.error(`cannot read ${key.key_file}: ${(error as Error).message}`, 'key_file');
      return undefined;
    }
  }
  let password = key.password;
  if (password === undefined && key.password_file !== undefined) {
    try {
      password = await readFile(key.password_file, 'utf8');
    } catch (error) {
      report.error(`cannot read ${key.password_file}: ${(error as Error).message}`, 'password_file');
      return undefined;
    }
  }
  // MAS uses a password file as written; also try it without the trailing newline editors add.
  const passwords = password === undefined ? [] : [...new Set([password, password.trimEnd()])];
  return { data, passwords };
}

function parsePrivateKey(data: Buffer, passwords: string[]): KeyObject {
  const pem = data.subarray(0, 64).toString('latin1').includes('-----BEGIN');
  const attempts: Parameters<typeof createPrivateKey>[0][] = [];
  for (const passphrase of passwords.length > 0 ? passwords : [undefined]) {
    if (pem) attempts.push({ key: data, format: 'pem', passphrase });
    else for (const type of ['pkcs8', 'pkcs1', 'sec1'] as const) attempts.push({ key: data, format: 'der', type, passphrase });
  }
  let lastError: unknown;
  for (const attempt of attempts) {
    try {
      return createPrivateKey(attempt);
    } catch (error) {
      lastError = error;
    }
  }
  throw lastError;
}

/** The key normalised, or undefined once the problem is reported. */
async function loadSigningKey(key: KeySource, report: Reporter): Promise<SigningKey | undefined> {
  const material = await readKeyMaterial(key, report);
  if (!material) return undefined;
  const where = key.key === undefined ? 'key_file' : 'key';
  let privateKey: KeyObject;
  try {
    privateKey = parsePrivateKey(material.data, material.passwords);
  } catch (error) {
    const reason = (error as Error).message;
    report.error(`is not a private key Mauth can read (RSA, EC or Ed25519; PKCS#1, PKCS#8 or SEC1; PEM or DER): ${reason}`, where);
    return undefined;
  }
  const type = privateKey.asymmetricKeyType;
  const curve = privateKey.asymmetricKeyDetails?.namedCurve;
  if (type !== 'rsa' && type !== 'ed25519' && !(type === 'ec' && curve !== undefined && SUPPORTED_CURVES.includes(curve))) {
    report.error(`is a ${type}${curve ? ` ${curve}` : ''} key; signing keys must be RSA, EC on P-256, P-384 or secp256k1, or Ed25519`, where);
    return undefined;
  }
  // The key is decrypted now; a leftover password would only mislead its readers.
  const { password: _decrypted, ...rest } = key;
  return {
    ...rest,
    key: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    kid: key.kid ?? (await calculateJwkThumbprint(createPublicKey(privateKey).export({ format: 'jwk' }) as JWK)),
  };
}

async function keysFromDirectory(directory: string, report: Reporter): Promise<KeySource[]> {
  try {
    const entries = await readdir(directory, { withFileTypes: true });
    return entries
      .filter((entry) => entry.isFile() && !entry.name.startsWith('.'))
      .map((entry) => entry.name)
      .sort()
      .map((name) => ({ key_file: join(directory, name) }));
  } catch (error) {
    report.error(`cannot read the folder ${directory}: ${(error as Error).message}`, 'keys_dir');
    return [];
  }
}

export const secretsSchema = {
  encryption: required(secret('32 bytes, hex encoded')),
  encryption_file: optionalString('File holding the encryption secret'),
  keys: listOf('Signing keys', signingKey),
  keys_dir: optionalString('Folder of private key files (without passwords) to add to `keys`'),
};

export const secrets: Section<'secrets'> = {
  key: 'secrets',
  description: [
    'Secrets. `encryption` (or `encryption_file`): 32 random bytes as 64 hex characters, used to',
    'encrypt cookies and database fields; never change it once in use. `keys` (or `keys_dir`):',
    'signing keys, each `key` (PEM) or `key_file`, with an optional `kid` and `password`.',
    'Include an RSA key: RS256 is mandatory in OpenID Connect.',
  ],
  schema: secretsSchema,
  async check(config, report) {
    const section = config.secrets;
    if (section.encryption === undefined) {
      report.error('is required: 32 bytes as 64 hexadecimal characters (`mauth config generate` makes one)', 'encryption');
    } else if (!/^[0-9a-fA-F]{64}$/.test(section.encryption)) {
      report.error(`must be 32 bytes written as 64 hexadecimal characters (got ${section.encryption.length} characters)`, 'encryption');
    } else if (section.encryption.toLowerCase() === EXAMPLE_ENCRYPTION_SECRET) {
      report.warn('is the published example value; generate your own with `mauth config generate`', 'encryption');
    }

    const sources: KeySource[] = [...section.keys];
    if (section.keys_dir !== undefined) sources.push(...(await keysFromDirectory(section.keys_dir, report)));
    if (sources.length === 0) {
      report.error('needs at least one signing key, ideally an RSA one (`mauth config generate` makes them)', 'keys');
      return;
    }

    const results = await Promise.all(sources.map((key, index) => loadSigningKey(key, report.at('keys').at(index))));
    const loaded = results.filter((key) => key !== undefined);
    section.keys = loaded;

    const seen = new Map<string, number>();
    // A key that failed to load is still checked with what it was configured with.
    results.forEach((result, index) => {
      const key = result ?? sources[index];
      if (key.kid === undefined) return;
      const first = seen.get(key.kid);
      if (first !== undefined) report.error(`duplicates the kid of keys[${first}]`, `keys[${index}].kid`);
      else seen.set(key.kid, index);
      if (EXAMPLE_KEYS.some((example) => example.key === key.key)) {
        report.warn('is a published example key; generate your own with `mauth config generate`', `keys[${index}].key`);
      }
    });
    if (loaded.length === sources.length && !loaded.some((key) => createPrivateKey(key.key).asymmetricKeyType === 'rsa')) {
      report.warn('has no RSA key: RS256 is mandatory in OpenID Connect and some clients require it', 'keys');
    }
  },
};
