// direct_bind mode without a service account (the directory allows no anonymous reads): the login
// name goes DN-escaped into dn_template, the user's own bind reads the entry. And the per-account
// login limit counts failed directory binds.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { startHomeserverDouble, type HomeserverDouble } from '../support/homeserver-double.js';
import { createMauth, type MauthInstance } from '../support/mauth-process.js';
import { OUTSIDERS, PEOPLE, SUFFIX, slapdAvailable, startSlapd, type Slapd } from '../support/slapd.js';

const SERVER_NAME = 'direct.test';
const skip = !slapdAvailable || process.env.MAUTH_TEST_DATABASE === 'embedded' ? 'needs slapd and PostgreSQL' : false;

let slapd: Slapd;
let hs: HomeserverDouble;
let mauth: MauthInstance;

const PW = { alice: 'Alice-directory-pw-1', erin: 'Erin-directory-pw-1', frank: 'Frank-directory-pw-1', oscar: 'Oscar-directory-pw-1', mallory: 'Mallory-directory-pw-1' };

async function login(user: string, password: string) {
  const res = await fetch(`${mauth.url}/_matrix/client/v3/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ type: 'm.login.password', identifier: { type: 'm.id.user', user }, password }),
  });
  return { status: res.status, body: (await res.json()) as any };
}

before(async () => {
  if (skip) return;
  slapd = await startSlapd();
  await slapd.addUser('alice', { password: PW.alice, displayName: 'Alice Liddell', mail: ['alice@example.org'] });
  await slapd.addUser('erin', { password: PW.erin });
  await slapd.addUser('frank', { password: PW.frank });
  await slapd.addUser('mallory', { password: PW.mallory, matrix: false });
  await slapd.addUser('oscar', { parent: OUTSIDERS, password: PW.oscar });
  const secret = randomBytes(16).toString('hex');
  hs = await startHomeserverDouble({ secret, serverName: SERVER_NAME });
  mauth = await createMauth({
    homeserverUrl: hs.url,
    serverName: SERVER_NAME,
    secret,
    extra: {
      rate_limiting: { login: { per_ip: { burst: 10000, per_second: 1000 }, per_account: { burst: 3, per_second: 0.001 } } },
      ldap: {
        enabled: true,
        uri: slapd.url,
        mode: 'direct_bind',
        dn_template: `uid={{ login }},${PEOPLE}`,
        base_dns: [PEOPLE],
        user_filter: '(employeeType=matrix)',
      },
    },
  });
  await mauth.start();
});

after(async () => {
  await mauth?.stop();
  await mauth?.drop();
  await hs?.stop();
  await slapd?.close();
});

describe('direct_bind', { skip }, () => {
  test('binds to the DN the template makes and reads the entry with the user\'s own rights', async () => {
    const res = await login('Alice', PW.alice);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.equal(res.body.user_id, `@alice:${SERVER_NAME}`);
    const provisioned = await hs.waitFor((c) => c.path.endsWith('/provision_user') && (c.body as any)?.localpart === 'alice');
    assert.equal((provisioned.body as any).set_displayname, 'Alice Liddell');
    assert.deepEqual((provisioned.body as any).set_emails, ['alice@example.org']);
  });

  test('refused: wrong or empty password, outside user_filter, a login that tries to leave the template\'s DN', async () => {
    const refusals: [string, string, string][] = [
      ['wrong password', 'alice', 'nope'],
      ['empty password', 'alice', ''],
      ['outside user_filter', 'mallory', PW.mallory],
      ['another subtree through the DN', `oscar,${OUTSIDERS}`, PW.oscar],
      ['a DN of its own', `uid=oscar,${OUTSIDERS}`, PW.oscar],
      ['the suffix', `x,${SUFFIX}`, PW.oscar],
      ['*', '*', PW.alice],
      ['NUL escape', 'alice\\00', PW.alice],
    ];
    for (const [what, user, password] of refusals) {
      const res = await login(user, password);
      assert.equal(res.status, 403, `${what}: ${JSON.stringify(res.body)}`);
      assert.equal(res.body.errcode, 'M_FORBIDDEN', what);
    }
  });
});

describe('rate limits', { skip }, () => {
  test('failed directory binds are counted by the per-account limiter, before and after the account exists', async () => {
    // erin has no account yet: the attempts count against her entry.
    for (let i = 0; i < 3; i += 1) assert.equal((await login('erin', 'wrong')).status, 403);
    const limited = await login('erin', PW.erin);
    assert.equal(limited.status, 429, JSON.stringify(limited.body));
    assert.equal(limited.body.errcode, 'M_LIMIT_EXCEEDED');
    assert.ok(limited.body.retry_after_ms > 0);

    // frank has an account (his first login counted against his entry): the attempts count against the account, whatever case he types.
    assert.equal((await login('frank', PW.frank)).status, 200);
    for (const name of ['frank', 'Frank', 'FRANK']) assert.equal((await login(name, 'wrong')).status, 403);
    assert.equal((await login('frank', PW.frank)).status, 429);
    // Another account is not affected.
    assert.equal((await login('alice', PW.alice)).status, 200);
  });
});
