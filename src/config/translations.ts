// The message catalogues: the built-in ones (templates/translations/<tag>.json) and the
// operator's (`templates.translations_path`), which override messages of a language or add a
// language. English is complete and the fallback of every other language, message by message.
// An operator's file is held to English's keys and parameters: a key Mauth does not have (a
// MAS catalogue, say) or a parameter English does not pass would be silently lost, so they are
// errors; a message it leaves out is shown in English (a warning).
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LANGUAGE_TAG, Translator, compileCatalogue, placeholders, type CompiledCatalogue } from '../domain/messages.js';

export const BUILTIN_TRANSLATIONS = fileURLToPath(new URL('../../templates/translations/', import.meta.url));
export const DEFAULT_LANGUAGE = 'en';

export interface TranslationProblems {
  errors: string[];
  warnings: string[];
}

export interface Catalogues {
  /** Every language with a catalogue, English first. */
  languages: readonly string[];
  catalogue(lang: string): CompiledCatalogue | undefined;
  /** A translator for `lang` (an available tag), falling back to its primary language, then English. */
  translator(lang: string): Translator;
}

type Compiled = ReturnType<typeof compileCatalogue>['catalogue'];

function readDirectory(dir: string, problems: TranslationProblems, label: string): Map<string, Compiled> {
  const found = new Map<string, Compiled>();
  for (const file of readdirSync(dir).sort()) {
    if (!file.endsWith('.json')) continue;
    const tag = file.slice(0, -'.json'.length);
    const where = `${label}/${file}`;
    if (!LANGUAGE_TAG.test(tag)) {
      problems.errors.push(`${where}: the file name must be a language tag such as de.json or pt-BR.json`);
      continue;
    }
    let json: unknown;
    try {
      json = JSON.parse(readFileSync(join(dir, file), 'utf8'));
    } catch (err) {
      problems.errors.push(`${where}: not valid JSON (${(err as Error).message})`);
      continue;
    }
    const { catalogue, problems: broken } = compileCatalogue(json);
    problems.errors.push(...broken.map((p) => `${where}: ${p}`));
    found.set(tag, catalogue);
  }
  return found;
}

/** Checks `catalogue` against English: unknown keys and parameters are errors, missing keys warnings. */
function compareWithEnglish(english: Compiled, catalogue: Compiled, where: string, problems: TranslationProblems, complete: boolean) {
  for (const [key, parts] of catalogue) {
    const reference = english.get(key);
    if (!reference) {
      problems.errors.push(`${where}: unknown message ${key} (Mauth's message keys are its own, not MAS's: see docs/i18n.md)`);
      continue;
    }
    const allowed = placeholders(reference);
    for (const name of placeholders(parts)) {
      if (!allowed.has(name)) problems.errors.push(`${where}: ${key} uses {${name}}, which this message does not have (it has ${[...allowed].map((a) => `{${a}}`).join(', ') || 'none'})`);
    }
  }
  const missing = [...english.keys()].filter((key) => !catalogue.has(key));
  if (complete && missing.length) problems.warnings.push(`${where}: ${missing.length} message(s) missing, shown in English (first: ${missing.slice(0, 3).join(', ')})`);
}

/**
 * Reads and checks the built-in catalogues and, when given, the operator's directory. Returns the
 * problems instead of throwing, for `config check`; `loadCatalogues` throws on errors.
 */
export function readCatalogues(overridePath?: string): { catalogues: Catalogues; problems: TranslationProblems } {
  const problems: TranslationProblems = { errors: [], warnings: [] };
  const builtin = readDirectory(BUILTIN_TRANSLATIONS, problems, 'templates/translations');
  const english = builtin.get(DEFAULT_LANGUAGE);
  if (!english) throw new Error(`the built-in English catalogue is missing from ${BUILTIN_TRANSLATIONS}`);
  for (const [tag, catalogue] of builtin) if (tag !== DEFAULT_LANGUAGE) compareWithEnglish(english, catalogue, `templates/translations/${tag}.json`, problems, true);

  const merged = new Map(builtin);
  if (overridePath) {
    if (!existsSync(overridePath) || !statSync(overridePath).isDirectory()) {
      problems.errors.push(`${overridePath}: not a directory`);
    } else {
      for (const [tag, catalogue] of readDirectory(overridePath, problems, overridePath)) {
        // An override of a built-in language only needs the messages it changes.
        compareWithEnglish(english, catalogue, join(overridePath, `${tag}.json`), problems, !builtin.has(tag));
        merged.set(tag, new Map([...(merged.get(tag) ?? []), ...catalogue]));
      }
    }
  }

  const languages = [DEFAULT_LANGUAGE, ...[...merged.keys()].filter((t) => t !== DEFAULT_LANGUAGE).sort()];
  const translators = new Map<string, Translator>();
  const catalogues: Catalogues = {
    languages,
    catalogue: (lang) => merged.get(lang),
    translator(lang) {
      const known = merged.has(lang) ? lang : DEFAULT_LANGUAGE;
      let translator = translators.get(known);
      if (!translator) {
        const primary = known.split('-')[0]!;
        const chain = [known, primary, DEFAULT_LANGUAGE].filter((t, i, all) => all.indexOf(t) === i && merged.has(t)).map((t) => merged.get(t)!);
        translator = new Translator(known, chain);
        translators.set(known, translator);
      }
      return translator;
    },
  };
  return { catalogues, problems };
}

const loaded = new Map<string, Catalogues>();

/** The catalogues (read once per directory); throws when a file has errors. */
export function loadCatalogues(overridePath?: string): Catalogues {
  const cacheKey = overridePath ?? '';
  const cached = loaded.get(cacheKey);
  if (cached) return cached;
  const { catalogues, problems } = readCatalogues(overridePath);
  if (problems.errors.length) throw new Error(`the message catalogues have errors:\n  ${problems.errors.join('\n  ')}`);
  loaded.set(cacheKey, catalogues);
  return catalogues;
}
