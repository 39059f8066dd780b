// `*_file` variants of secrets: `matrix.secret_file: /run/secrets/mas` reads the secret from that
// file into `matrix.secret`, so secrets can stay out of the config (Docker and systemd
// credentials). Paths are relative to the working directory, as in MAS. Single-line secrets lose
// surrounding whitespace (the newline editors add); a password pepper is used byte for byte, as
// MAS does, so existing hashes still verify. Signing keys are read by the `secrets` section.
import { readFile } from 'node:fs/promises';
import { forEachKey } from './key-patterns.js';
import type { ProblemList } from './problems.js';

const SECRET_FILES: { pattern: string; trim: boolean }[] = [
  { pattern: 'matrix.secret', trim: true },
  { pattern: 'secrets.encryption', trim: true },
  { pattern: 'email.password', trim: true },
  { pattern: 'database.password', trim: true },
  { pattern: 'clients[].client_secret', trim: true },
  { pattern: 'passwords.schemes[].secret', trim: false },
  { pattern: 'upstream_oauth2.providers[].client_secret', trim: true },
  { pattern: 'ldap.bind_password', trim: true },
];

/** Reads every `*_file` secret of the merged, not yet validated configuration into its plain key. */
export async function readSecretFiles(raw: Record<string, unknown>, problems: ProblemList): Promise<void> {
  const reads: Promise<void>[] = [];
  for (const { pattern, trim } of SECRET_FILES) {
    forEachKey(raw, `${pattern}_file`, (parent, fileKey, path) => {
      const key = fileKey.slice(0, -'_file'.length);
      const file = parent[fileKey];
      if (typeof file !== 'string' || file === '') {
        problems.error(path, 'must be the path of a file');
        return;
      }
      if (parent[key] !== undefined) {
        problems.error(path, `set only one of \`${key}\` and \`${fileKey}\``);
        return;
      }
      reads.push(
        readFile(file, 'utf8').then(
          (content) => {
            const value = trim ? content.trim() : content;
            if (value === '') problems.error(path, `the file ${file} is empty`);
            else parent[key] = value;
          },
          (error: Error) => problems.error(path, `cannot read ${file}: ${error.message}`),
        ),
      );
    });
  }
  await Promise.all(reads);
}
