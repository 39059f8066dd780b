// Black box: a registration refused because every password slot is taken costs the network none
// of its registrations. With one slot and no queue, the test holds the slot, the form is answered
// 429 with the busy page, and once the slot is free the one registration the limit allows works.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startInProcessSetup, type Setup } from '../support/homeserver-setup.js';
import { Browser, parseForms } from '../support/http-client.js';
import type { InProcessMauth } from '../support/mauth-inprocess.js';

const STRONG = 'Plenty-Of-Entropy-Here-42!';

let setup: Setup<InProcessMauth>;

before(async () => {
  setup = await startInProcessSetup({
    serverName: 'register-busy.test',
    extra: {
      account: { password_registration_enabled: true, password_registration_email_required: false },
      passwords: { max_concurrency: 1, max_queue: 0 },
      // One registration per network, and no refill during the test.
      rate_limiting: { registration: { burst: 1, per_second: 0.0001 } },
    },
  });
});

after(() => setup?.stop());

async function register(username: string): Promise<Response> {
  const browser = new Browser(setup.mauth.url);
  const html = await (await browser.get('/register')).text();
  const form = parseForms(html).find((f) => f.action.startsWith('/register'));
  assert.ok(form, 'the registration form');
  return browser.postForm(form.action, { ...form.fields, username, email: '', password: STRONG, password_confirm: STRONG });
}

test('a registration answered busy takes nothing from the registration limit', async () => {
  let release!: () => void;
  const held = setup.mauth.hasher.pool.run(() => new Promise<void>((resolve) => (release = resolve)));
  try {
    const busy = await register('first');
    assert.equal(busy.status, 429);
    assert.match(busy.headers.get('retry-after') ?? '', /^[1-9]\d*$/);
    assert.match(await busy.text(), /Too many passwords are being checked right now/);
  } finally {
    release();
    await held;
  }
  const done = await register('first');
  assert.equal(done.status, 303, `the registration the limit allows was refused: ${done.status}`);
  // The limit still holds: a second registration from the same network is refused as too many.
  const second = await register('second');
  assert.equal(second.status, 429);
  assert.match(await second.text(), /Too many registrations from your network/);
});
