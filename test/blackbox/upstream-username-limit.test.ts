// Black box: upstream registration asks the homeserver whether the imported username is free;
// that question tells whether a name exists, so it shares /register's per-IP limit
// (`rate_limiting.username_availability`, security finding 10).
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startUpstreamSetup, type UpstreamSetup } from '../support/upstream-setup.js';

let setup: UpstreamSetup;

before(async () => {
  setup = await startUpstreamSetup({
    serverName: 'limit.test',
    providerId: '01JD0000000000000000000000',
    extra: { rate_limiting: { username_availability: { burst: 1, per_second: 0.0001 } } },
    accounts: [
      { sub: 'u-first', password: 'first-pass', preferred_username: 'firstuser', email: 'first@limit.test', email_verified: true, name: 'First' },
      { sub: 'u-second', password: 'second-pass', preferred_username: 'seconduser', email: 'second@limit.test', email_verified: true, name: 'Second' },
    ],
  });
});

after(() => setup?.stop());

const signInUpstream = (username: string, password: string) => setup.signIn(username, password);
const asked = (localpart: string) => setup.hs.calls.filter((c) => c.path.endsWith('/is_localpart_available') && c.query.localpart === localpart).length;

test('upstream registration checks usernames within the per-IP limit, and asks nothing once over it', async () => {
  const first = await signInUpstream('firstuser', 'first-pass');
  assert.equal(first.status, 200, 'the first registration page is shown');
  assert.equal(asked('firstuser'), 1, 'the homeserver was asked about the first name');

  const second = await signInUpstream('seconduser', 'second-pass');
  assert.equal(second.status, 429);
  assert.ok(Number(second.headers.get('retry-after')) > 0, 'Retry-After is set');
  assert.match(await second.text(), /Too many/);
  assert.equal(asked('seconduser'), 0, 'the homeserver was not asked about the second name');
});
