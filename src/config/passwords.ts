// `passwords`: the local password database. Each scheme hashes with one algorithm; the highest
// version hashes new passwords, the others still verify old hashes (and are rehashed on login).
import { boolean, integer, listOf, oneOf, optionalString, secret } from './formats.js';
import { required, shape } from './schema.js';
import type { Section } from './section.js';

const scheme = shape({
  schema: {
    version: required(integer('Scheme version, unique; the highest hashes new passwords', undefined, { min: 0, max: 65535 })),
    algorithm: required(oneOf('Hashing algorithm', ['argon2id', 'bcrypt', 'pbkdf2'], undefined)),
    unicode_normalization: boolean('NFKC-normalise passwords before hashing (as Synapse did)', false),
    cost: integer('bcrypt cost (default 12)', undefined, { min: 1 }),
    secret: secret('Pepper mixed into the hash'),
    secret_file: optionalString('File holding the pepper, used byte for byte'),
  },
  check(value, report) {
    if (value.version === undefined) report.error('is required', 'version');
    if (value.algorithm === undefined) report.error('is required (argon2id, bcrypt or pbkdf2)', 'algorithm');
    if (value.cost !== undefined && value.algorithm !== undefined && value.algorithm !== 'bcrypt') {
      report.error(`applies only to bcrypt (this scheme is ${value.algorithm}); remove it`, 'cost');
    }
    if (value.algorithm === 'bcrypt' && value.cost !== undefined && (value.cost < 4 || value.cost > 31)) {
      report.error('must be from 4 to 31 for bcrypt', 'cost');
    }
  },
});

export const passwordsSchema = {
  enabled: boolean('Whether local password login is enabled', true),
  schemes: listOf('Password hashing schemes', scheme, [{ version: 1, algorithm: 'argon2id' }]),
  minimum_complexity: integer('Minimum zxcvbn score of new passwords', 3, { min: 0, max: 4 }),
  max_concurrency: integer('Password hashes and checks run at once (default: CPU cores − 1, at least 1)', undefined, { min: 1 }),
  max_queue: integer('Password hashes and checks waiting beyond those; more are answered 429 (default: 64 × max_concurrency)', undefined, { min: 0 }),
};

export const passwords: Section<'passwords'> = {
  key: 'passwords',
  description: [
    'Local passwords. With `enabled: false` users log in only through upstream providers.',
    '`minimum_complexity` is a zxcvbn score from 0 to 4. Only change `schemes` if you know why:',
    'add a higher version to migrate, keep older ones to verify existing hashes. Algorithms:',
    '`argon2id`, `bcrypt` (`cost`, default 12; Synapse\'s hashes: its `password_config.pepper` as',
    '`secret`, `unicode_normalization: true`) and `pbkdf2`, as MAS hashes them.',
    'Hashing runs on a bounded pool so that a burst of logins never stalls introspection:',
    '`max_concurrency` at once (default: CPU cores − 1, at least 1), up to `max_queue` more',
    'waiting (default: 64 per slot, about 3 s of argon2id); beyond that a login is answered',
    '429 (Matrix `M_LIMIT_EXCEEDED` with `retry_after_ms`) and should be retried.',
  ],
  schema: passwordsSchema,
  check(config, report) {
    const section = config.passwords;
    if (!section.enabled) return;
    if (section.schemes.length === 0) report.error('needs at least one scheme while passwords are enabled', 'schemes');
    const seen = new Map<number, number>();
    section.schemes.forEach((entry, index) => {
      const first = seen.get(entry.version);
      if (first !== undefined) report.error(`duplicates the version of schemes[${first}]`, `schemes[${index}].version`);
      else seen.set(entry.version, index);
    });
  },
};
