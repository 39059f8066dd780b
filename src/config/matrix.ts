// `matrix`: the homeserver Mauth serves. `secret` is shared with Synapse's
// `matrix_authentication_service.secret` (Synapse sends it to introspect tokens; Mauth sends it
// to call /_synapse/mas/*), so it must be long and random.
import { oneOf, optionalString, secret, string, url } from './formats.js';
import { EXAMPLE_MATRIX_SECRET } from './example-secrets.js';
import { required } from './schema.js';
import { withTrailingSlash } from './http.js';
import type { Section } from './section.js';

export const matrixSchema = {
  kind: oneOf('Kind of homeserver', ['synapse', 'synapse_modern', 'synapse_legacy'], 'synapse'),
  homeserver: string('Server name of the homeserver', 'localhost:8008', { nonEmpty: true }),
  secret: required(secret('Shared secret with the homeserver')),
  secret_file: optionalString('File holding the shared secret'),
  endpoint: url("Base URL of the homeserver's client API, as Mauth reaches it", 'http://localhost:8008/', ['http', 'https']),
};

export const matrix: Section<'matrix'> = {
  key: 'matrix',
  description: [
    'The homeserver. `homeserver` is its server_name (user IDs are @localpart:homeserver);',
    '`endpoint` is where Mauth reaches it; `secret` (or `secret_file`) is shared with Synapse',
    '(`matrix_authentication_service.secret`). `kind`: synapse (default), synapse_modern,',
    'synapse_legacy (the older admin API).',
  ],
  schema: matrixSchema,
  check(config, report) {
    const section = config.matrix;
    section.endpoint = withTrailingSlash(section.endpoint);
    if (section.secret === undefined || section.secret.trim() === '') {
      report.error('is required: the secret shared with the homeserver (set `secret` or `secret_file`)', 'secret');
    } else if (section.secret === EXAMPLE_MATRIX_SECRET) {
      report.warn('is the published example value; generate your own with `mauth config generate`', 'secret');
    }
  },
};
