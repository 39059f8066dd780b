// Login rate limits, shared through the database, on the legacy API and the browser form.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';
import { startHomeserverDouble, type HomeserverDouble } from '../support/homeserver-double.js';
import { Browser, parseForms } from '../support/http-client.js';
import { createMauth, type MauthInstance } from '../support/mauth-process.js';

let hs: HomeserverDouble;
let mauth: MauthInstance;

before(async () => {
  const secret = randomBytes(16).toString('hex');
  hs = await startHomeserverDouble({ secret, serverName: 'limits.test' });
  mauth = await createMauth({
    homeserverUrl: hs.url,
    serverName: 'limits.test',
    secret,
    extra: {
      rate_limiting: { login: { per_ip: { burst: 2, per_second: 0.001 }, per_account: { burst: 3, per_second: 0.001 } } },
    },
  });
  assert.equal((await mauth.cli('manage', 'register-user', 'grace', '--password', 'grace-pw-1', '--yes')).code, 0);
  await mauth.start();
});

after(async () => {
  await mauth?.stop();
  await mauth?.drop();
  await hs?.stop();
});

// Client addresses as a trusted reverse proxy reports them (127.0.0.0/8 is trusted by default).
const from = (ip: string) => ({ 'x-forwarded-for': ip });

async function passwordLogin(ip: string, pw: string) {
  const res = await fetch(`${mauth.url}/_matrix/client/v3/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...from(ip) },
    body: JSON.stringify({ type: 'm.login.password', identifier: { type: 'm.id.user', user: 'grace' }, password: pw }),
  });
  return { status: res.status, retryAfter: res.headers.get('retry-after'), body: (await res.json()) as any };
}

test('an address over its limit gets 429 M_LIMIT_EXCEEDED, and cannot lock the account owner out', async () => {
  const attempts = [];
  for (let i = 0; i < 8; i += 1) attempts.push(await passwordLogin('203.0.113.1', 'guess'));
  assert.deepEqual(attempts.slice(0, 2).map((a) => a.status), [403, 403]);
  for (const limited of attempts.slice(2)) {
    assert.equal(limited.status, 429);
    assert.equal(limited.body.errcode, 'M_LIMIT_EXCEEDED');
    assert.ok(Number.isInteger(limited.body.retry_after_ms) && limited.body.retry_after_ms > 0);
    assert.equal(limited.retryAfter, String(Math.ceil(limited.body.retry_after_ms / 1000)));
  }
  // Only the two attempts the address was allowed reached the account's bucket (3).
  const owner = await passwordLogin('203.0.113.2', 'grace-pw-1');
  assert.equal(owner.status, 200, JSON.stringify(owner.body));
});

test('the browser login form shares the limits', async () => {
  const browser = new Browser(mauth.url);
  const statuses: number[] = [];
  for (let i = 0; i < 3; i += 1) {
    const page = await browser.get('/login');
    const form = parseForms(await page.text()).find((f) => f.action.startsWith('/login'))!;
    const res = await browser.request(form.action, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', ...from('203.0.113.3') },
      body: new URLSearchParams({ ...form.fields, username: 'nobody', password: 'guess' }).toString(),
    });
    statuses.push(res.status);
    if (res.status === 429) {
      assert.ok(res.headers.get('retry-after'));
      assert.match(await res.text(), /Too many attempts/);
    }
  }
  assert.deepEqual(statuses, [403, 403, 429]);
});
