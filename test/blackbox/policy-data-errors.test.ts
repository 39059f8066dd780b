// Black box: policy data the policies cannot read is refused where it is given, with the path of
// the bad value: in the configuration by `mauth config check` and at start-up, through the admin
// API with 400 (the data in force stays as it was). Nothing is accepted and then ignored.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { InProcessMauth } from '../support/mauth-inprocess.js';
import { createMauth, type MauthInstance } from '../support/mauth-process.js';
import { ADMIN_CLIENT, AdminApi, adminToken, errorTitle, startAdminMauth, startHomeserver, type SharedHomeserver } from '../admin/support.js';

describe('policy.data in the configuration', () => {
  let mauth: MauthInstance;

  before(async () => {
    mauth = await createMauth({
      homeserverUrl: 'http://127.0.0.1:9',
      serverName: 'config.test',
      secret: 'x'.repeat(32),
      extra: {
        policy: {
          data: {
            admin_user: ['alice'],
            registration: { banned_usernames: { literals: 'root', regexes: ['(unclosed'] } },
            requester: { banned_ips: ['10.0.0.0/40'] },
            client_registration: { allow_insecure_uris: 'yes' },
          },
        },
      },
    });
  });

  after(async () => {
    await mauth?.drop();
  });

  test('mauth config check names each unusable key and exits non-zero', async () => {
    const { code, stdout, stderr } = await mauth.cli('config', 'check');
    const out = `${stdout}\n${stderr}`;
    assert.notEqual(code, 0, out);
    for (const line of [
      /policy\.data\.admin_user\b.*is not a key the policies know/,
      /policy\.data\.registration\.banned_usernames\.literals\b.*must be a list of strings/,
      /policy\.data\.registration\.banned_usernames\.regexes\[0\].*is not a regular expression/,
      /policy\.data\.requester\.banned_ips\[0\].*must be an IP address or a CIDR range/,
      /policy\.data\.client_registration\.allow_insecure_uris\b.*must be true or false/,
    ]) {
      assert.match(out, line);
    }
  });

  test('the server does not start with it', async () => {
    await assert.rejects(mauth.start(), /policy\.data\.admin_user/);
  });
});

describe('policy data through the admin API', () => {
  let hs: SharedHomeserver;
  let mauth: InProcessMauth;

  before(async () => {
    hs = await startHomeserver('policy-errors.test');
    mauth = await startAdminMauth(hs, { policy: { data: { admin_clients: [ADMIN_CLIENT.id], requester: { banned_ips: ['10.0.0.1'] } } } });
  });

  after(async () => {
    await mauth?.stop();
    await mauth?.drop();
    await hs?.stop();
  });

  test('unknown keys, wrong types, bad regexes, ranges and limits get 400 naming the path; nothing is stored', async () => {
    const api = new AdminApi(mauth.url, await adminToken(mauth.url));
    const accepted = await api.post('/policy-data', { data: { registration: { banned_usernames: { regexes: ['^admin'] } } } });
    assert.equal(accepted.status, 201, JSON.stringify(accepted.body));
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ registration: { banned_username: { literals: ['x'] } } }, /registration\.banned_username: is not a key the policies know/],
      [{ allowed_domains: 'example.com' }, /allowed_domains: must be a list of strings/],
      [{ admin_users: [42] }, /admin_users\[0\]: must be a string/],
      [{ emails: { banned_addresses: { regexes: ['*oops'] } } }, /emails\.banned_addresses\.regexes\[0\]: is not a regular expression/],
      // Appended to the configuration's list: the index is in the merged list.
      [{ requester: { banned_ips: ['not-an-address'] } }, /requester\.banned_ips\[1\]: must be an IP address or a CIDR range/],
      [{ requester: { banned_ips: 'everyone' } }, /cannot merge a string into a list at requester\.banned_ips/],
      [{ session_limit: { soft_limit: 5, hard_limit: 2 } }, /session_limit\.hard_limit: must be at least soft_limit/],
      [{ server_name: 'elsewhere.test' }, /server_name: is set by matrix\.homeserver/],
    ];
    for (const [data, message] of cases) {
      const refused = await api.post('/policy-data', { data });
      assert.equal(refused.status, 400, JSON.stringify(data));
      assert.match(errorTitle(refused), message, JSON.stringify(data));
    }
    assert.equal((await api.get('/policy-data/latest')).body.data.id, accepted.body.data.id, 'the refused data was not stored');
  });
});
