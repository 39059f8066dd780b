// `policy`: data handed to the registration, client registration, authorization and e-mail
// policies. The MAS keys that point at its WASM module are accepted so MAS configs load; Mauth's
// policies are built in and read only `data`.
import { mapping, optionalString } from './formats.js';
import type { Section } from './section.js';

const MAS_ONLY = 'MAS only (Mauth has built-in policies); ignored';

export const policySchema = {
  data: mapping('Data passed to the policies', {}),
  wasm_module: optionalString(MAS_ONLY),
  client_registration_entrypoint: optionalString(MAS_ONLY),
  register_entrypoint: optionalString(MAS_ONLY),
  authorization_grant_entrypoint: optionalString(MAS_ONLY),
  password_entrypoint: optionalString(MAS_ONLY),
  email_entrypoint: optionalString(MAS_ONLY),
  compat_login_entrypoint: optionalString(MAS_ONLY),
};

export const policy: Section<'policy'> = {
  key: 'policy',
  description: ['Policy data: `admin_users`, `admin_clients`, `client_registration` (allow_host_mismatch,', 'allow_insecure_uris, ...), `registration` (allowed/banned usernames), `emails`, `requester`.'],
  schema: policySchema,
};
