// `branding`: names and links shown in pages, e-mails and the provider metadata.
import { optionalString, url } from './formats.js';
import type { Section } from './section.js';

export const brandingSchema = {
  service_name: optionalString('Human-readable name of the service; defaults to the server address'),
  policy_uri: url('Privacy policy, linked in pages and advertised as op_policy_uri', undefined),
  tos_uri: url('Terms of service, accepted at registration and advertised as op_tos_uri', undefined),
  imprint: optionalString('Legal imprint shown in page and e-mail footers'),
  logo_uri: url('Logo shown on pages', undefined),
  // Not in MAS, whose colours come with its frontend build.
  accent_color: optionalString('Colour of buttons, focus rings and highlights on pages, as #rrggbb or #rgb (text on it is black or white, whichever contrasts more)', {
    pattern: /^#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})$/,
    patternMessage: 'must be a colour as #rrggbb or #rgb',
  }),
};

export const branding: Section<'branding'> = {
  key: 'branding',
  description: [
    'Branding: `service_name`, `policy_uri`, `tos_uri` (adds a mandatory checkbox at', 'registration), `imprint`, `logo_uri`, `accent_color` (Mauth only).',
  ],
  schema: brandingSchema,
};
