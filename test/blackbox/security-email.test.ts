// Black box, security review (issue 8): e-mail addresses typed by people reach exactly the
// mailbox they name, recovery mails only the stored, verified address of an account, one
// successful reset ends every other recovery link, and username probing at /register is limited
// before the homeserver is asked.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import postgres from 'postgres';
import type { HomeserverDouble } from '../support/homeserver-double.js';
import { Browser, location, parseForms } from '../support/http-client.js';
import { startSetup, type Setup } from '../support/homeserver-setup.js';
import type { MauthInstance } from '../support/mauth-process.js';
import type { SmtpCatcher } from '../support/smtp.js';

const SERVER_NAME = 'mail-security.test';
const STRONG = 'Plenty-Of-Entropy-Here-42!';
const USERNAME_PROBES_ALLOWED = 6;

let setup: Setup<MauthInstance>;
let hs: HomeserverDouble;
let smtp: SmtpCatcher;
let mauth: MauthInstance;
let sql: postgres.Sql;

async function submit(browser: Browser, res: Response, fields: Record<string, string>, action?: RegExp): Promise<Response> {
  const html = await res.text();
  const form = parseForms(html).find((f) => !action || action.test(f.action));
  assert.ok(form, `a form on: ${html.slice(0, 400)}`);
  return browser.postForm(form.action, { ...form.fields, ...fields });
}

async function follow(browser: Browser, res: Response): Promise<Response> {
  while (res.status === 303 || res.status === 302) res = await browser.get(location(res));
  return res;
}

async function recover(email: string): Promise<Response> {
  const browser = new Browser(mauth.url);
  return submit(browser, await browser.get('/recover'), { email });
}

/** Waits until the worker has finished every mail job written so far (sent or given up). */
async function mailJobsSettled(): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const [row] = await sql<{ open: number }[]>`
      SELECT count(*)::int AS open FROM jobs
      WHERE kind IN ('send_recovery_link', 'send_verification_code') AND status IN ('pending', 'running')`;
    if (row.open === 0) return;
    assert.ok(Date.now() < deadline, `${row.open} mail jobs still open`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function recoveryLinkIn(text: string): string {
  const link = /(http:\/\/\S+recover\/complete\?ticket=\S+)/.exec(text)?.[1];
  assert.ok(link, text);
  return link;
}

async function compatLogin(identifier: Record<string, string>, password: string): Promise<number> {
  const res = await fetch(`${mauth.url}/_matrix/client/v3/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ type: 'm.login.password', identifier, password }),
  });
  return res.status;
}

async function cliRegister(username: string, email: string, password = STRONG) {
  const out = await mauth.cli('manage', 'register-user', username, '--password', password, '--email', email, '--yes');
  assert.equal(out.code, 0, out.stderr);
}

before(async () => {
  const generous = { burst: 1000, per_second: 100 };
  setup = await startSetup({
    serverName: SERVER_NAME,
    mailFrom: 'auth@mail-security.test',
    extra: {
      account: {
        password_registration_enabled: true,
        password_registration_email_required: false,
        password_recovery_enabled: true,
        login_with_email_allowed: true,
      },
      policy: { data: { allowed_domains: ['example.test'] } },
      rate_limiting: {
        login: { per_ip: generous, per_account: generous },
        registration: generous,
        email_authentication: { per_ip: generous, per_address: generous, emails_per_session: generous, attempt_per_session: generous },
        account_recovery: { per_ip: generous, per_address: generous },
        // No refill during the test: the limit test counts on what is left of the burst.
        username_availability: { burst: USERNAME_PROBES_ALLOWED, per_second: 0.0001 },
      },
    },
  });
  ({ hs, smtp, mauth } = setup);
  sql = postgres(mauth.databaseUrl, { max: 2, onnotice: () => {} });
});

after(async () => {
  await sql?.end();
  await setup?.stop();
});

describe('finding 1: recovery mails only the stored, verified address', () => {
  before(async () => {
    await cliRegister('carol', 'carol@gmail.example');
  });

  test('a look-alike domain (gmaİl) finds no account: nothing is mailed, and the page is the one unknown addresses get', async () => {
    const unknown = await recover('nobody@example.test');
    assert.equal(unknown.status, 200);
    const unknownPage = (await unknown.text()).replaceAll('nobody@example.test', 'ADDRESS');

    const lookAlike = await recover('carol@gmaİl.example');
    assert.equal(lookAlike.status, 200);
    assert.equal((await lookAlike.text()).replaceAll('carol@gmaİl.example', 'ADDRESS'), unknownPage);

    await mailJobsSettled();
    const strays = smtp.mails.filter((m) => m.to.some((to) => to !== 'carol@gmail.example' && /carol/i.test(to)));
    assert.deepEqual(strays.map((m) => m.to), [], 'no mail to the look-alike address');
    const tickets = await sql`SELECT t.id FROM user_recovery_tickets t JOIN users u ON u.id = t.user_id WHERE u.username = 'carol'`;
    assert.equal(tickets.length, 0, 'no recovery ticket for carol');
  });

  test('a spelling of the same mailbox (case, fullwidth letters) mails the stored address, never the typed one', async () => {
    for (const typed of ['CAROL@GMAIL.EXAMPLE', 'carol@ｇｍａｉｌ.example']) {
      const before = smtp.mails.length;
      const res = await recover(typed);
      assert.equal(res.status, 200, typed);
      const mail = await smtp.waitFor((m) => smtp.mails.indexOf(m) >= before && /reset/i.test(m.subject), 30_000);
      assert.deepEqual(mail.to, ['carol@gmail.example'], typed);
      assert.match(mail.text, /@carol:mail-security\.test/);
    }
    await mailJobsSettled();
    assert.ok(smtp.mails.every((m) => m.to.every((to) => to === 'carol@gmail.example' || !/carol/i.test(to))), JSON.stringify(smtp.mails.map((m) => m.to)));
  });

  test('login with an e-mail uses the same comparison: the look-alike is not carol, another case is', async () => {
    assert.equal(await compatLogin({ type: 'm.id.thirdparty', medium: 'email', address: 'carol@gmaİl.example' }, STRONG), 403);
    assert.equal(await compatLogin({ type: 'm.id.user', user: 'carol@gmaİl.example' }, STRONG), 403);
    assert.equal(await compatLogin({ type: 'm.id.thirdparty', medium: 'email', address: 'Carol@Gmail.Example' }, STRONG), 200);
  });
});

describe('finding 2: an address list is never taken as one address', () => {
  const LIST = 'mallory@evil.test,nobody@example.test';

  test('/register refuses the list with a form error although its last domain is allowed', async () => {
    for (const email of [LIST, '"mallory@evil.test,x"@example.test', 'mallory@evil.test;nobody@example.test']) {
      const browser = new Browser(mauth.url);
      const res = await submit(browser, await browser.get('/register'), { username: 'mallory', email, password: STRONG, password_confirm: STRONG });
      assert.equal(res.status, 400, email);
      assert.match(await res.text(), /single e-mail address, not a list/, email);
    }
    assert.equal((await sql`SELECT 1 FROM user_registrations WHERE username = 'mallory'`).length, 0);
  });

  test('/account/emails and /recover refuse it too', async () => {
    await cliRegister('dora', 'dora@example.test');
    const browser = new Browser(mauth.url);
    let res = await submit(browser, await browser.get('/login?next=/account/emails'), { username: 'dora', password: STRONG });
    res = await follow(browser, res);
    res = await submit(browser, res, { email: LIST }, /\/account\/emails$/);
    assert.equal(res.status, 400);
    assert.match(await res.text(), /single e-mail address, not a list/);

    res = await recover(LIST);
    assert.equal(res.status, 400);
    assert.match(await res.text(), /single e-mail address, not a list/);
    assert.equal((await sql`SELECT 1 FROM user_email_authentications WHERE email LIKE '%evil%'`).length, 0);
    await mailJobsSettled();
    assert.ok(!smtp.mails.some((m) => m.to.some((to) => to.includes('evil'))));
  });

  test('the CLI refuses it for register-user --email and add-email', async () => {
    const registered = await mauth.cli('manage', 'register-user', 'mallory2', '--email', LIST, '--yes');
    assert.notEqual(registered.code, 0);
    assert.match(registered.stderr, /single e-mail address, not a list/);
    const added = await mauth.cli('manage', 'add-email', 'dora', LIST);
    assert.notEqual(added.code, 0);
    assert.match(added.stderr, /single e-mail address, not a list/);
    assert.equal((await sql`SELECT 1 FROM users WHERE username = 'mallory2'`).length, 0);
    assert.equal((await sql`SELECT 1 FROM user_emails WHERE email LIKE '%evil%'`).length, 0);
  });

  test('addresses are stored in their canonical form', async () => {
    const added = await mauth.cli('manage', 'add-email', 'dora', 'Dora.Second@Bücher.Example');
    assert.equal(added.code, 0, added.stderr);
    const emails = await sql<{ email: string }[]>`
      SELECT e.email FROM user_emails e JOIN users u ON u.id = e.user_id WHERE u.username = 'dora' ORDER BY e.created_at`;
    assert.deepEqual(emails.map((e) => e.email), ['dora@example.test', 'Dora.Second@xn--bcher-kva.example']);
  });
});

describe('finding 13: a successful reset ends every recovery link of the account', () => {
  test('two links mailed, one used: the other no longer works, and pending e-mail codes are gone', async () => {
    await cliRegister('tess', 'tess@example.test');
    // A pending address change of the account, waiting for its code.
    const browser = new Browser(mauth.url);
    let res = await submit(browser, await browser.get('/login?next=/account/emails'), { username: 'tess', password: STRONG });
    res = await follow(browser, res);
    res = await submit(browser, res, { email: 'tess.new@example.test' }, /\/account\/emails$/);
    assert.equal(res.status, 303);

    const before = smtp.mails.length;
    for (let i = 0; i < 2; i += 1) assert.equal((await recover('tess@example.test')).status, 200);
    await mailJobsSettled();
    const links = smtp.mails.slice(before).filter((m) => m.to.includes('tess@example.test') && /reset/i.test(m.subject)).map((m) => recoveryLinkIn(m.text));
    assert.equal(links.length, 2);
    assert.notEqual(links[0], links[1]);

    const resetter = new Browser(mauth.url);
    res = await resetter.get(links[0]);
    assert.equal(res.status, 200);
    res = await submit(resetter, res, { password: 'Brand-New-Password-77!', password_confirm: 'Brand-New-Password-77!' });
    assert.equal(res.status, 200);
    assert.match(await res.text(), /Password changed/);

    const other = await new Browser(mauth.url).get(links[1]);
    assert.equal(other.status, 400, 'the second link is spent too');
    assert.match(await other.text(), /cannot be used/);
    const [codes] = await sql<{ n: number }[]>`
      SELECT count(*)::int AS n FROM user_email_authentication_codes c
      JOIN user_email_authentications a ON a.id = c.authentication_id
      JOIN users u ON u.id = a.user_id WHERE u.username = 'tess'`;
    assert.equal(codes.n, 0, 'the pending e-mail code of the account was dropped');
  });
});

// Last among the /register tests: it spends this address's username-availability allowance.
describe('finding 10: username probing at /register is rate limited per IP', () => {
  test('over the limit the page answers 429 with Retry-After, and the homeserver is not asked', async () => {
    let limited: { res: Response; username: string } | undefined;
    for (let i = 0; i < USERNAME_PROBES_ALLOWED + 5 && !limited; i += 1) {
      const username = `probe${i}x`;
      const browser = new Browser(mauth.url);
      const res = await submit(browser, await browser.get('/register'), { username, email: '', password: 'weak', password_confirm: 'weak' });
      if (res.status === 429) limited = { res, username };
      else assert.equal(res.status, 400, `${username}: the weak password is refused, the name was looked up`);
    }
    assert.ok(limited, 'the limit was reached');
    const retryAfter = Number(limited.res.headers.get('retry-after'));
    assert.ok(Number.isInteger(retryAfter) && retryAfter > 0, `Retry-After: ${limited.res.headers.get('retry-after')}`);
    assert.match(await limited.res.text(), /Too many/);
    assert.ok(hs.calls.some((c) => c.path.endsWith('/is_localpart_available') && c.query.localpart === 'probe0x'), 'the first probe reached the homeserver');
    assert.ok(
      !hs.calls.some((c) => c.path.endsWith('/is_localpart_available') && c.query.localpart === limited.username),
      'the limited probe never reached the homeserver',
    );
  });
});

test('no request produced a 5xx', () => {
  assert.doesNotMatch(mauth.output(), /request failed|unhandled error|"level":50/);
});
