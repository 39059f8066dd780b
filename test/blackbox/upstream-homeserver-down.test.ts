// Black box: upstream registration while the homeserver is down (its double stopped). The
// registration step asks the homeserver whether the imported username is free; without an answer
// it says "try again shortly" as every other endpoint does: 503 with Retry-After, never a 502 or 500.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startUpstreamSetup, type UpstreamSetup } from '../support/upstream-setup.js';

let setup: UpstreamSetup;

before(async () => {
  setup = await startUpstreamSetup({
    serverName: 'up-down.test',
    providerId: '01JD0000000000000000000001',
    accounts: [{ sub: 'u-new', password: 'new-pass', preferred_username: 'newcomer', email: 'new@up-down.test', email_verified: true, name: 'New' }],
    beforeStart: ({ hs }) => hs.stop(),
  });
});

after(() => setup?.stop());

test('upstream registration: 503 page with Retry-After when the homeserver cannot be asked about the username', async () => {
  const res = await setup.signIn('newcomer', 'new-pass');
  const html = await res.text();
  assert.equal(res.status, 503, html.slice(0, 400));
  assert.match(res.headers.get('content-type') ?? '', /text\/html/);
  const retry = Number(res.headers.get('retry-after'));
  assert.ok(Number.isInteger(retry) && retry > 0, `Retry-After: ${res.headers.get('retry-after')}`);
  assert.match(html, /The homeserver is not reachable/);
  assert.match(html, /Try again in a moment\./);
});
