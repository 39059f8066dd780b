// `templates`: where operators' overrides of pages, e-mails and translations live.
import { optionalString } from './formats.js';
import type { Section } from './section.js';
import { readCatalogues } from './translations.js';
import { masShare } from './unsupported.js';

export const templatesSchema = {
  path: optionalString('Folder of templates overriding the built-in ones'),
  assets_manifest: optionalString('Frontend assets manifest'),
  translations_path: optionalString("Folder of message catalogues (<language>.json in Mauth's format) overriding or adding to the built-in ones"),
};

export const templates: Section<'templates'> = {
  key: 'templates',
  description: [
    'Template overrides: `path` (pages and e-mails), `assets_manifest`, `translations_path`',
    "(message catalogues in Mauth's format, see docs/i18n.md); relative to the working directory.",
    'Absent: the built-in ones.',
  ],
  schema: templatesSchema,
  check(config, report) {
    const path = config.templates.translations_path;
    if (!path) return;
    // MAS's default (its own stock catalogues, which Mauth has built in): nothing to add.
    if (masShare('translations').includes(path)) {
      config.templates.translations_path = undefined;
      return;
    }
    const { problems } = readCatalogues(path);
    for (const error of problems.errors) report.error(error, 'translations_path');
    for (const warning of problems.warnings) report.warn(warning, 'translations_path');
  },
};
