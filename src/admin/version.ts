// The version the admin API reports (`/version`, the OpenAPI document): package.json's, read from
// beside src/ or dist/ alike.
import { readFileSync } from 'node:fs';

export const VERSION: string = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
