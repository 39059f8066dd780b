// `mauth doctor`'s directory check: with `ldap.enabled`, the directory answers and accepts the
// service account (the same probe as `mauth manage ldap-check`, without a login to resolve).
import { checkConnection } from '../directory/check.js';
import { DirectoryConnections } from '../directory/connections.js';
import type { DoctorCheck } from './doctor.js';

export const DIRECTORY_CHECK: DoctorCheck = {
  name: 'directory',
  async run(ctx) {
    const { ldap } = ctx.config;
    if (!ldap.enabled) return [];
    const connections = new DirectoryConnections(ldap);
    try {
      const report = await checkConnection(ctx.config, connections);
      const message = report.lines.join('; ');
      if (report.ok) return { status: 'ok', message };
      return {
        status: 'fail',
        message,
        hint: 'check ldap.uri, start_tls/ca_file and bind_dn/bind_password; `mauth manage ldap-check <login>` shows what a login resolves to',
      };
    } finally {
      await connections.close();
    }
  },
};
