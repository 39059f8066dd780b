// The operator configuration fixtures in shared/fixtures, which sits beside the repository in
// development and in CI (the CI clone gets shared/ next to it).
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const CANDIDATES = [
  process.env.MAUTH_SHARED_DIR,
  fileURLToPath(new URL('../../../shared/', import.meta.url)),
  '/work/shared/',
].filter((p): p is string => !!p);

export const FIXTURES_DIR = join(CANDIDATES.find((dir) => existsSync(join(dir, 'fixtures'))) ?? CANDIDATES[1], 'fixtures');

export function fixture(name: string): string {
  return join(FIXTURES_DIR, name);
}
