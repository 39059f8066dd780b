// One configuration section: its schema (key names and defaults as in MAS), the comment
// `config generate` writes above it, and the checks that span several keys.
import type { Reporter } from './problems.js';
import type { Config, RootSchema } from './sections.js';

export interface Section<K extends keyof RootSchema = keyof RootSchema> {
  key: K;
  /** Written above the section by `config generate`; one line per array element. */
  description: string[];
  /** A section of entries, or a single entry for the top-level list `clients`. */
  schema: RootSchema[K];
  /**
   * Checks across keys, run once every section has its defaults and `*_file` secrets are read.
   * `report` is positioned at the section; checks may normalise values (URLs, key formats).
   * `config` has the loaded type, except that what the checks ensure (`required()` and
   * `derived()` keys) may still be missing while they run.
   */
  check?(config: Config, report: Reporter): void | Promise<void>;
}
