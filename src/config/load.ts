// Loading a configuration: read and merge the files, apply environment overrides, read `*_file`
// secrets, apply each section's schema (defaults, types, unknown keys), then each section's
// cross-field checks. `checkConfig` returns every problem; `loadConfig` throws on errors.
import { applySchema } from './apply-schema.js';
import { ConfigError, ProblemList, Provenance, type Problem } from './problems.js';
import { readSecretFiles } from './secret-files.js';
import { ROOT_SCHEMA, SECTIONS } from './sections.js';
import { applyEnvironment, configFiles, readConfigFiles } from './sources.js';
import type { Config } from './types.js';

export { ConfigError, formatProblem, type Problem } from './problems.js';
export { generateConfig, type GenerateOptions } from './generate.js';
export { redactConfig } from './redact.js';
export { configFiles } from './sources.js';

export interface LoadOptions {
  /** Files to merge in order (later ones win). Default: `MAUTH_CONFIG` (colon-separated), else ./config.yaml if present. */
  files?: string[];
  /** Environment for `MAUTH_CONFIG` and `MAUTH_<SECTION>__<KEY>` overrides; default `process.env`. */
  env?: NodeJS.ProcessEnv;
  /** Receives warnings (unknown keys, placeholder secrets, ...) from `loadConfig`. */
  onWarning?: (warning: Problem) => void;
}

export interface CheckResult {
  /** The loaded configuration, when there are no errors. */
  config?: Config;
  errors: Problem[];
  warnings: Problem[];
  /** The files that were read, in order. */
  files: string[];
}

function belongsTo(problem: Problem, section: string): boolean {
  return problem.key === section || problem.key.startsWith(`${section}.`) || problem.key.startsWith(`${section}[`);
}

export async function checkConfig(options: LoadOptions = {}): Promise<CheckResult> {
  const env = options.env ?? process.env;
  const files = configFiles(options.files, env);
  const provenance = new Provenance();
  const problems = new ProblemList(provenance);

  const raw = await readConfigFiles(files, provenance, problems);
  applyEnvironment(raw, env, ROOT_SCHEMA, provenance, problems);
  await readSecretFiles(raw, problems);
  // The one cast from a walked mapping to its schema's type: TypeScript cannot follow a walk over
  // a schema value. applySchema and the checks below report every way the value differs from
  // ROOT_SCHEMA, and a configuration with errors is never returned.
  const config = applySchema(ROOT_SCHEMA, raw, problems.at('')) as Config;

  for (const section of SECTIONS) {
    // Cross-field checks assume well-typed values; a section with type errors is reported as is.
    if (!section.check || problems.errors.some((problem) => belongsTo(problem, section.key))) continue;
    try {
      await section.check(config, problems.at(section.key));
    } catch (error) {
      problems.error(section.key, `could not be checked: ${(error as Error).message}`);
    }
  }

  const { errors, warnings } = problems;
  return errors.length === 0 ? { config, errors, warnings, files } : { errors, warnings, files };
}

export async function loadConfig(options: LoadOptions = {}): Promise<Config> {
  const result = await checkConfig(options);
  if (!result.config) throw new ConfigError(result.errors);
  for (const warning of result.warnings) options.onWarning?.(warning);
  return result.config;
}
