// Black box: registration through the HTML forms with codes mailed to a real SMTP server,
// password recovery, and the faults around them (SMTP down, races, used-up tokens). The main
// server runs in this process, so that codes expire and mail retries come due by moving its clock.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import postgres from 'postgres';
import type { HomeserverDouble } from '../support/homeserver-double.js';
import { Browser, location, parseForms } from '../support/http-client.js';
import { startInProcessSetup, type Setup } from '../support/homeserver-setup.js';
import type { InProcessMauth } from '../support/mauth-inprocess.js';
import { createMauth, type MauthInstance } from '../support/mauth-process.js';
import { authorize, introspect, pkce, registerNativeClient, tokenRequest } from '../support/oauth-client.js';
import type { SmtpCatcher } from '../support/smtp.js';

const SERVER_NAME = 'register.test';
const STRONG = 'Plenty-Of-Entropy-Here-42!';

let setup: Setup<InProcessMauth>;
let hs: HomeserverDouble;
let smtp: SmtpCatcher;
let mauth: InProcessMauth;

const codeIn = (to: string) => async () => {
  const mail = await smtp.waitFor((m) => m.to.includes(to), 60_000);
  const code = /\b(\d{6})\b/.exec(mail.text)?.[1];
  assert.ok(code, `a 6-digit code in: ${mail.text}`);
  assert.match(mail.subject, new RegExp(code));
  assert.match(mail.html, new RegExp(code));
  return code;
};

function sqlFor(instance: Pick<MauthInstance, 'databaseUrl'>) {
  return postgres(instance.databaseUrl, { max: 2, onnotice: () => {} });
}

/** Fills and submits the first form on a page (or the one whose action matches). */
async function submit(browser: Browser, res: Response, fields: Record<string, string>, action?: RegExp): Promise<Response> {
  const html = await res.text();
  const form = parseForms(html).find((f) => !action || action.test(f.action));
  assert.ok(form, `a form on: ${html.slice(0, 400)}`);
  return browser.postForm(form.action, { ...form.fields, ...fields });
}

/** Waits until delivery of the code to `to` has failed `attempts` times (SMTP is down). */
async function mailAttempted(sql: postgres.Sql, to: string, attempts: number): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const [job] = await sql<{ attempts: number; status: string }[]>`
      SELECT attempts, status FROM jobs WHERE kind = 'send_verification_code' AND payload ->> 'to' = ${to}`;
    if (job && job.attempts >= attempts && job.status === 'pending') return;
    assert.ok(Date.now() < deadline, `delivery to ${to} not tried ${attempts} times: ${JSON.stringify(job)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function follow(browser: Browser, res: Response): Promise<Response> {
  while (res.status === 303 || res.status === 302) res = await browser.get(location(res));
  return res;
}

before(async () => {
  setup = await startInProcessSetup({
    serverName: SERVER_NAME,
    mailFrom: '"Auth" <auth@register.test>',
    extra: {
      account: {
        password_registration_enabled: true,
        password_registration_email_required: false,
        password_recovery_enabled: true,
      },
      policy: { data: { banned_domains: ['spam.test', '*.spam.test'] } },
      email: { reply_to: 'help@register.test' },
      rate_limiting: {
        login: { per_ip: { burst: 1000, per_second: 100 }, per_account: { burst: 1000, per_second: 100 } },
        registration: { burst: 1000, per_second: 100 },
        username_availability: { burst: 1000, per_second: 100 },
        email_authentication: {
          per_ip: { burst: 1000, per_second: 100 },
          per_address: { burst: 1000, per_second: 100 },
          emails_per_session: { burst: 5, per_second: 0.001 },
          attempt_per_session: { burst: 3, per_second: 0.001 },
        },
        account_recovery: { per_ip: { burst: 1000, per_second: 100 }, per_address: { burst: 1000, per_second: 100 } },
      },
    },
  });
  ({ hs, smtp, mauth } = setup);
});

after(() => setup?.stop());

test('registration from prompt=create through the forms ends in an authorization code', async () => {
  const { client_id: clientId } = await registerNativeClient(mauth.url);
  const { verifier, challenge } = pkce();
  const browser = new Browser(mauth.url);
  const discovery = (await (await fetch(`${mauth.url}/.well-known/openid-configuration`)).json()) as { prompt_values_supported: string[] };
  assert.ok(discovery.prompt_values_supported.includes('create'));

  let res = await browser.get(
    `/authorize?${new URLSearchParams({
      client_id: clientId,
      redirect_uri: 'http://127.0.0.1/cb',
      response_type: 'code',
      scope: 'openid urn:matrix:client:api:* urn:matrix:client:device:NEWBIEDEV1',
      state: 'st',
      prompt: 'create',
      code_challenge: challenge,
      code_challenge_method: 'S256',
    })}`,
  );
  res = await follow(browser, res);
  assert.match(await res.clone().text(), /Create an account/);
  res = await submit(browser, res, { username: 'Newbie', email: 'newbie@mail.test', password: STRONG, password_confirm: STRONG });
  assert.equal(res.status, 303);
  res = await follow(browser, res);
  assert.match(await res.clone().text(), /newbie@mail\.test/);
  const code = await codeIn('newbie@mail.test')();
  res = await submit(browser, res, { code, action: 'verify' });
  res = await follow(browser, res);
  res = await submit(browser, res, { display_name: 'New Bie', action: 'save' });
  assert.equal(res.status, 303);
  assert.match(location(res), /^\/interaction\/.+signed_in=1$/);
  res = await follow(browser, res);
  // consent, then back to the client
  res = await submit(browser, res, { decision: 'allow' }, /consent$/);
  while (res.status === 303 && !location(res).startsWith('http://127.0.0.1/cb')) res = await browser.get(location(res));
  const back = new URL(location(res));
  const authCode = back.searchParams.get('code');
  assert.ok(authCode, location(res));
  const tokens = await tokenRequest(mauth.url, { grant_type: 'authorization_code', code: authCode, redirect_uri: 'http://127.0.0.1/cb', client_id: clientId, code_verifier: verifier });
  assert.equal(tokens.status, 200, JSON.stringify(tokens.body));
  assert.equal((await introspect(mauth.url, mauth.secret, tokens.body.access_token)).body.username, 'newbie');
  const provision = await hs.waitFor((c) => c.path.endsWith('/provision_user') && (c.body as any)?.localpart === 'newbie', 10_000);
  assert.deepEqual((provision.body as any).set_emails, ['newbie@mail.test']);
  assert.equal((provision.body as any).set_displayname, 'New Bie');
});

test('a wrong code is refused and counted, an expired one offers a new code, too many restart the registration', async () => {
  const browser = new Browser(mauth.url);
  let res = await browser.get('/register');
  res = await submit(browser, res, { username: 'typo', email: 'typo@mail.test', password: STRONG, password_confirm: STRONG });
  res = await follow(browser, res);
  const code = await codeIn('typo@mail.test')();
  const wrong = code === '000000' ? '111111' : '000000';
  let html = await res.text();
  const form = parseForms(html)[0];
  res = await browser.postForm(form.action, { ...form.fields, code: wrong, action: 'verify' });
  assert.equal(res.status, 400);
  assert.match(await res.text(), /not right/);

  // account.email_code_ttl: 300 s by default.
  await mauth.advance(301);
  res = await browser.postForm(form.action, { ...form.fields, code, action: 'verify' });
  assert.equal(res.status, 400);
  html = await res.text();
  assert.match(html, /expired/);
  assert.match(html, /value="resend"/);

  res = await browser.postForm(form.action, { ...form.fields, code: wrong, action: 'verify' });
  assert.equal(res.status, 400, 'the third attempt is the last allowed');
  res = await browser.postForm(form.action, { ...form.fields, code, action: 'verify' });
  assert.equal(res.status, 429, 'a fourth attempt is over the limit, even with the right code');
  assert.match(await res.text(), /Start again/);
  const sql = sqlFor(mauth);
  const [row] = await sql<{ abandoned: boolean }[]>`SELECT abandoned_at IS NOT NULL AS abandoned FROM user_registrations WHERE username = 'typo'`;
  assert.equal(row.abandoned, true);
  assert.equal((await sql`SELECT 1 FROM users WHERE username = 'typo'`).length, 0);
  await sql.end();
});

test('with SMTP down when the code is requested, the same code arrives once it is back', async () => {
  await smtp.stop();
  const browser = new Browser(mauth.url);
  let res = await browser.get('/register');
  res = await submit(browser, res, { username: 'patient', email: 'patient@mail.test', password: STRONG, password_confirm: STRONG });
  res = await follow(browser, res);
  assert.equal(res.status, 200, 'the registration waits at the code step');
  const page = await res.text();
  const sql = sqlFor(mauth);
  // Each failed delivery is retried after a backoff of seconds (1.5-2 s, then 3-4 s): the clock
  // jumps over it.
  await mailAttempted(sql, 'patient@mail.test', 1);
  await mauth.advance(2);
  await mailAttempted(sql, 'patient@mail.test', 2);
  await smtp.start();
  await mauth.advance(4);
  const code = await codeIn('patient@mail.test')();
  await mauth.jobsSettled();
  const codes = await sql`
    SELECT c.id FROM user_email_authentication_codes c JOIN user_email_authentications a ON a.id = c.authentication_id
    WHERE a.email = 'patient@mail.test'`;
  assert.equal(codes.length, 1, 'no new code was issued while the mail server was down');
  const [job] = await sql<{ attempts: number; status: string }[]>`SELECT attempts, status FROM jobs WHERE kind = 'send_verification_code' ORDER BY created_at DESC LIMIT 1`;
  assert.ok(job.attempts > 1, 'delivery was retried');
  assert.equal(job.status, 'done');
  await sql.end();
  const form = parseForms(page)[0];
  res = await browser.postForm(form.action, { ...form.fields, code, action: 'verify' });
  res = await follow(browser, res);
  res = await submit(browser, res, { action: 'skip' });
  assert.equal(res.status, 303);
  assert.equal(location(res), '/account/');
  const account = await browser.get('/account/');
  assert.match(await account.text(), /@patient:register\.test/);
});

test('100 concurrent registrations of one username create exactly one account', async () => {
  const outcomes = await Promise.all(
    Array.from({ length: 100 }, async (_, i) => {
      const browser = new Browser(mauth.url);
      let res = await browser.get('/register');
      res = await submit(browser, res, { username: 'racer', email: '', password: `${STRONG}${i}`, password_confirm: `${STRONG}${i}` });
      if (res.status !== 303) return res.status;
      res = await follow(browser, res);
      res = await submit(browser, res, { action: 'skip' });
      return res.status === 303 ? 'created' : res.status;
    }),
  );
  assert.equal(outcomes.filter((o) => o === 'created').length, 1, JSON.stringify(outcomes));
  assert.ok(outcomes.every((o) => o === 'created' || o === 400 || o === 409), JSON.stringify(outcomes));
  const sql = sqlFor(mauth);
  assert.equal((await sql`SELECT 1 FROM users WHERE username = 'racer'`).length, 1);
  await sql.end();
});

test('form checks: taken, invalid and weak, mismatched; malformed bodies never 5xx', async () => {
  const browser = new Browser(mauth.url);
  const cases: [Record<string, string>, RegExp][] = [
    [{ username: 'newbie', password: STRONG, password_confirm: STRONG }, /taken/],
    [{ username: '12345', password: STRONG, password_confirm: STRONG }, /only digits/],
    [{ username: 'weakling', password: 'password', password_confirm: 'password' }, /too weak/],
    [{ username: 'mismatch', password: STRONG, password_confirm: `${STRONG}x` }, /do not match/],
    [{ username: 'bademail', email: 'not-an-address', password: STRONG, password_confirm: STRONG }, /not a valid e-mail/],
    [{ username: 'spammer', email: 'me@mail.spam.test', password: STRONG, password_confirm: STRONG }, /cannot be used here/],
  ];
  for (const [fields, message] of cases) {
    const res = await submit(browser, await browser.get('/register'), { email: '', ...fields });
    assert.equal(res.status, 400, JSON.stringify(fields));
    assert.match(await res.text(), message);
  }
  for (const [path, body] of [
    ['/register', 'username=%%%'],
    ['/register/steps/nope/token', 'token=x'],
    ['/register/steps/nope/verify-email', 'code=1'],
    ['/recover', 'email[]=a'],
    ['/recover/complete', 'ticket=nope'],
    ['/account/emails', 'email=a@b.c'],
  ]) {
    const res = await fetch(`${mauth.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body, redirect: 'manual' });
    assert.ok(res.status >= 300 && res.status < 500, `${path} → ${res.status}`);
  }
});

test('the homeserver is asked whether the username is free; resending codes is limited per session', async () => {
  hs.addUser('squatted');
  const browser = new Browser(mauth.url);
  let res = await submit(browser, await browser.get('/register'), { username: 'squatted', email: '', password: STRONG, password_confirm: STRONG });
  assert.equal(res.status, 400);
  assert.match(await res.text(), /taken/);
  assert.ok(hs.calls.some((c) => c.path.endsWith('/is_localpart_available') && c.query.localpart === 'squatted'));

  res = await submit(browser, await browser.get('/register'), { username: 'chatty', email: 'chatty@mail.test', password: STRONG, password_confirm: STRONG });
  res = await follow(browser, res);
  const form = parseForms(await res.text())[0];
  const statuses: number[] = [];
  for (let i = 0; i < 5; i += 1) statuses.push((await browser.postForm(form.action, { ...form.fields, action: 'resend' })).status);
  // emails_per_session allows 5 mails: the first code and four more.
  assert.deepEqual(statuses, [200, 200, 200, 200, 429]);
});

describe('password recovery', () => {
  test('link from the mail sets a new password, ends old sessions, works once; unknown addresses get the same page and no mail', async () => {
    assert.equal((await mauth.cli('manage', 'register-user', 'rita', '--password', 'Old-Password-123!', '--email', 'rita@mail.test', '--yes')).code, 0);
    const login = async (pw: string) =>
      fetch(`${mauth.url}/_matrix/client/v3/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ type: 'm.login.password', identifier: { type: 'm.id.user', user: 'rita' }, password: pw }),
      });
    const before = (await (await login('Old-Password-123!')).json()) as { access_token: string; device_id: string };
    assert.equal((await introspect(mauth.url, mauth.secret, before.access_token)).body.active, true);
    // An OAuth 2.0 session too.
    const client = await registerNativeClient(mauth.url);
    const grant = await authorize(new Browser(mauth.url), {
      client,
      scope: 'openid urn:matrix:client:api:* urn:matrix:client:device:RITAPHONE01',
      username: 'rita',
      password: 'Old-Password-123!',
    });
    const oauth = await tokenRequest(mauth.url, { grant_type: 'authorization_code', code: grant.params.get('code')!, redirect_uri: client.redirect_uri, client_id: client.client_id, code_verifier: grant.verifier });
    assert.equal((await introspect(mauth.url, mauth.secret, oauth.body.access_token)).body.active, true);

    const browser = new Browser(mauth.url);
    const sent = await submit(browser, await browser.get('/recover'), { email: 'rita@mail.test' });
    assert.equal(sent.status, 200);
    const sentPage = (await sent.text()).replaceAll('rita@mail.test', 'ADDRESS');
    const mail = await smtp.waitFor((m) => m.to.includes('rita@mail.test') && /reset/i.test(m.subject), 30_000);
    const link = /(http:\/\/\S+recover\/complete\?ticket=\S+)/.exec(mail.text)?.[1];
    assert.ok(link, mail.text);
    assert.match(mail.text, /@rita:register\.test/);

    const mailsBefore = smtp.mails.length;
    const unknown = await submit(browser, await browser.get('/recover'), { email: 'nobody@mail.test' });
    assert.equal(unknown.status, 200);
    assert.equal((await unknown.text()).replaceAll('nobody@mail.test', 'ADDRESS'), sentPage, 'the same answer for an unknown address');

    let res = await browser.get(link);
    assert.equal(res.status, 200);
    res = await submit(browser, res, { password: 'Brand-New-Password-77!', password_confirm: 'Brand-New-Password-77!' });
    assert.equal(res.status, 200);
    assert.match(await res.text(), /Password changed/);

    assert.equal((await introspect(mauth.url, mauth.secret, before.access_token)).body.active, false);
    assert.equal((await introspect(mauth.url, mauth.secret, oauth.body.access_token)).body.active, false, 'OAuth sessions end too');
    const refresh = await tokenRequest(mauth.url, { grant_type: 'refresh_token', refresh_token: oauth.body.refresh_token, client_id: client.client_id });
    assert.equal(refresh.body.error, 'invalid_grant');
    await hs.waitFor((c) => c.path.endsWith('/sync_devices') && (c.body as any)?.localpart === 'rita', 10_000);
    assert.equal((await login('Old-Password-123!')).status, 403);
    assert.equal((await login('Brand-New-Password-77!')).status, 200);

    const again = await browser.get(link);
    assert.equal(again.status, 400, 'the link works once');
    await mauth.jobsSettled();
    assert.equal(smtp.mails.length, mailsBefore, 'no mail for an unknown address');
  });
});

describe('registration tokens and CAPTCHA', () => {
  let strict: MauthInstance;
  let captchaServer: import('node:http').Server;

  before(async () => {
    const http = await import('node:http');
    captchaServer = http.createServer((req, res) => {
      let body = '';
      req.on('data', (d) => (body += d));
      req.on('end', () => {
        const form = new URLSearchParams(body);
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({ success: form.get('secret') === 'captcha-secret' && form.get('response') === 'good-token' }));
      });
    });
    await new Promise<void>((r) => captchaServer.listen(0, '127.0.0.1', () => r()));
    const captchaUrl = `http://127.0.0.1:${(captchaServer.address() as { port: number }).port}/siteverify`;
    strict = await createMauth({
      homeserverUrl: hs.url,
      serverName: SERVER_NAME,
      secret: mauth.secret,
      extra: {
        account: { password_registration_enabled: true, password_registration_email_required: false, registration_token_required: true },
        captcha: { service: 'cloudflare_turnstile', site_key: 'site-key', secret_key: 'captcha-secret', verify_url: captchaUrl },
        rate_limiting: { registration: { burst: 1000, per_second: 100 }, username_availability: { burst: 1000, per_second: 100 } },
      },
    });
    await strict.start();
  });

  after(async () => {
    await strict?.stop();
    await strict?.drop();
    await new Promise((r) => captchaServer?.close(r));
  });

  const start = async (browser: Browser, username: string, captcha = 'good-token') =>
    submit(browser, await browser.get('/register'), { username, email: '', password: STRONG, password_confirm: STRONG, 'cf-turnstile-response': captcha });

  test('a failed CAPTCHA stops the registration', async () => {
    const page = await (await new Browser(strict.url).get('/register')).text();
    assert.match(page, /cf-turnstile/);
    const res = await start(new Browser(strict.url), 'robot', 'bad-token');
    assert.equal(res.status, 400);
    assert.match(await res.text(), /CAPTCHA/);
  });

  test('without a token registration stops; a used-up token is refused', async () => {
    const issued = await strict.cli('manage', 'issue-user-registration-token', '--usage-limit', '1');
    assert.equal(issued.code, 0, issued.stderr);
    const token = issued.stdout.trim();

    const first = new Browser(strict.url);
    let res = await start(first, 'tokenholder');
    assert.match(location(res), /\/token$/);
    const tokenStep = location(res);
    // Skipping the token step leads back to it, and no account appears.
    res = await first.get(tokenStep.replace(/token$/, 'display-name'));
    res = await submit(first, res, { action: 'skip' });
    assert.equal(res.status, 303);
    assert.match(location(res), /\/token$/);
    res = await first.get(tokenStep);
    res = await submit(first, res, { token });
    res = await follow(first, res);
    res = await submit(first, res, { action: 'skip' });
    assert.equal(res.status, 303);
    assert.equal(location(res), '/account/');

    const second = new Browser(strict.url);
    res = await start(second, 'latecomer');
    res = await submit(second, await second.get(location(res)), { token });
    assert.equal(res.status, 400);
    assert.match(await res.text(), /can no longer be used/);
    const sql = sqlFor(strict);
    assert.equal((await sql`SELECT 1 FROM users WHERE username = 'latecomer'`).length, 0);
    assert.equal((await sql`SELECT 1 FROM users WHERE username = 'tokenholder'`).length, 1);
    await sql.end();
  });
});

test('adding an e-mail to an existing account goes through a mailed code', async () => {
  assert.equal((await mauth.cli('manage', 'register-user', 'noemail', '--password', 'No-Email-Pass-99!', '--yes')).code, 0);
  const browser = new Browser(mauth.url);
  let res = await submit(browser, await browser.get('/login?next=/account/emails'), { username: 'noemail', password: 'No-Email-Pass-99!' });
  res = await follow(browser, res);
  res = await submit(browser, res, { email: 'later@mail.test' }, /\/account\/emails$/);
  res = await follow(browser, res);
  const code = await codeIn('later@mail.test')();
  res = await submit(browser, res, { code, action: 'verify' });
  assert.equal(res.status, 200);
  assert.match(await res.text(), /later@mail\.test is verified/);
  await hs.waitFor((c) => c.path.endsWith('/provision_user') && (c.body as any)?.localpart === 'noemail' && ((c.body as any)?.set_emails ?? []).includes('later@mail.test'), 10_000);
});

test('no request produced a 5xx', () => {
  assert.doesNotMatch(mauth.output(), /request failed|unhandled error|"level":50/);
});
