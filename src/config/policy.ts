// `policy`: data handed to the built-in policies (register, email, client registration,
// authorization grant, compat login; see policies/ at the top of the repository). The MAS keys
// that point at its WASM module are accepted so MAS configs load; Mauth's policies are built in
// and read only `data`, which is checked here key by key: a key the policies do not read, or a
// value of the wrong type, is an error rather than something silently ignored.
import { buildPolicyData } from '../domain/policy-data.js';
import { mapping, optionalString } from './formats.js';
import type { Section } from './section.js';

const MAS_ONLY = 'MAS only (Mauth has built-in policies); ignored';

export const policySchema = {
  data: mapping('Data passed to the policies (policies/data.yaml lists every key)', {}),
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
  description: [
    'Policy data (policies/data.yaml documents every key): `admin_users`, `admin_clients`,',
    '`client_registration`, `registration`, `emails`, `allowed_domains`, `banned_domains`, `requester`.',
  ],
  schema: policySchema,
  check(config, report) {
    const data = config.policy.data;
    const limit = config.experimental.session_limit as Record<string, unknown> | undefined;
    const built = buildPolicyData({ server_name: config.matrix.homeserver, ...(limit ? { session_limit: limit } : {}) }, [data]);
    for (const problem of built.problems) {
      // experimental.session_limit alone: that section reports its own problems.
      if (problem.path.startsWith('session_limit') && data.session_limit === undefined) continue;
      report.error(problem.message, problem.path ? `data.${problem.path}` : 'data');
    }
  },
};
