// `templates`: where operators' overrides of pages, e-mails and translations live.
import { optionalString } from './formats.js';
import type { Section } from './section.js';

export const templatesSchema = {
  path: optionalString('Folder of templates overriding the built-in ones'),
  assets_manifest: optionalString('Frontend assets manifest'),
  translations_path: optionalString('Folder of translation files'),
};

export const templates: Section<'templates'> = {
  key: 'templates',
  description: ['Template overrides: `path` (pages and e-mails), `assets_manifest`, `translations_path`;', 'relative to the working directory. Absent: the built-in templates.'],
  schema: templatesSchema,
};
