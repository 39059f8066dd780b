// `clients`: OAuth 2.0 clients declared in the config (synced to the database at start-up), such
// as a confidential client for the homeserver's older `experimental_features.msc3861` setup.
import { isUlid, listOf, mapping, oneOf, optionalString, secret, stringList, ulid, url } from './formats.js';
import { required, shape } from './schema.js';
import type { Section } from './section.js';

const SECRET_METHODS = ['client_secret_basic', 'client_secret_post', 'client_secret_jwt'];

const client = shape({
  schema: {
    client_id: required(ulid('Client ID, a ULID')),
    client_auth_method: required(oneOf('How the client authenticates', ['none', 'client_secret_basic', 'client_secret_post', 'client_secret_jwt', 'private_key_jwt'], undefined)),
    client_name: optionalString('Name shown to users'),
    client_secret: secret('Client secret, for the client_secret_* methods'),
    client_secret_file: optionalString('File holding the client secret'),
    jwks: mapping('Public keys, for private_key_jwt', undefined),
    jwks_uri: url('URL of the public keys, for private_key_jwt', undefined, ['http', 'https']),
    redirect_uris: stringList('Allowed redirect URIs', [], 'url'),
  },
  check(value, report) {
    if (value.client_id === undefined) report.error('is required (a ULID, e.g. 0000000000000000000SYNAPSE)', 'client_id');
    else value.client_id = value.client_id.toUpperCase();
    const method = value.client_auth_method;
    if (method === undefined) {
      report.error('is required (none, client_secret_basic, client_secret_post, client_secret_jwt or private_key_jwt)', 'client_auth_method');
      return;
    }
    if (SECRET_METHODS.includes(method)) {
      if (value.client_secret === undefined) report.error(`is required for ${method} (set client_secret or client_secret_file)`, 'client_secret');
      if (value.jwks !== undefined) report.error(`is not allowed with ${method}`, 'jwks');
      if (value.jwks_uri !== undefined) report.error(`is not allowed with ${method}`, 'jwks_uri');
    } else {
      if (value.client_secret !== undefined) report.error(`is not allowed with ${method}`, 'client_secret');
      if (method === 'none' && value.jwks !== undefined) report.error('is not allowed with none', 'jwks');
      if (method === 'none' && value.jwks_uri !== undefined) report.error('is not allowed with none', 'jwks_uri');
      if (method === 'private_key_jwt' && (value.jwks === undefined) === (value.jwks_uri === undefined)) {
        report.error('private_key_jwt needs exactly one of jwks and jwks_uri', value.jwks === undefined ? 'jwks' : 'jwks_uri');
      }
    }
  },
});

export const clientsSchema = listOf('Static OAuth 2.0 clients', client);

export const clients: Section<'clients'> = {
  key: 'clients',
  description: ['OAuth 2.0 clients to create at start-up: `client_id` (a ULID), `client_auth_method`,', '`client_secret` (or `client_secret_file`), `redirect_uris`.'],
  schema: clientsSchema,
  check(config, report) {
    const seen = new Map<string, number>();
    config.clients.forEach((entry, index) => {
      if (!isUlid(entry.client_id ?? '')) return;
      const first = seen.get(entry.client_id);
      if (first !== undefined) report.at(index).error(`duplicates the client_id of clients[${first}]`, 'client_id');
      else seen.set(entry.client_id, index);
    });
  },
};
