// Black box: what a newcomer meets on a fresh configuration. `GET /` leads to the account page,
// and with the default `email.transport: blackhole` no page promises a code or a link that
// cannot leave: steps that need mail say plainly that this server sends none.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Browser, location, parseForms } from '../support/http-client.js';
import { startSetup, type Setup } from '../support/homeserver-setup.js';
import type { MauthInstance } from '../support/mauth-process.js';

const SERVER_NAME = 'first-run.test';
const PASSWORD = 'Plenty-Of-Entropy-Here-42!';
const NO_MAIL = /this server is not set up to send e-mail/;
const PROMISES = /it will arrive|is on its way|We sent|Send a code|Send the link|Send a new code/;

let setup: Setup<MauthInstance>;
let mauth: MauthInstance;

before(async () => {
  setup = await startSetup({
    serverName: SERVER_NAME,
    extra: {
      // The generated configuration's transport (blackhole), with everything that needs mail on.
      email: { transport: 'blackhole' },
      account: {
        password_registration_enabled: true,
        password_registration_email_required: true,
        password_recovery_enabled: true,
        email_change_allowed: true,
      },
    },
    users: [{ name: 'alice', password: PASSWORD }],
  });
  ({ mauth } = setup);
});

after(() => setup?.stop());

async function page(browser: Browser, path: string): Promise<string> {
  const res = await browser.get(path);
  const html = await res.text();
  assert.equal(res.status, 200, `${path}: ${html.slice(0, 300)}`);
  return html;
}

test('GET / redirects to the account page', async () => {
  const res = await fetch(`${mauth.url}/`, { redirect: 'manual' });
  assert.equal(res.status, 302);
  assert.equal(location(res), '/account/');
});

test('registration that requires e-mail is refused plainly instead of offering a code', async () => {
  const browser = new Browser(mauth.url);
  const html = await page(browser, '/register');
  assert.match(html, NO_MAIL);
  assert.doesNotMatch(html, PROMISES);
  assert.equal(parseForms(html).length, 0, 'no form that could start a registration');

  // A registration started anyway (a form kept from before) reaches a page that says the same.
  const { csrf } = parseForms(await page(browser, '/login'))[0]!.fields;
  const started = await browser.postForm('/register', { csrf: csrf!, username: 'bob', email: 'bob@mail.test', password: PASSWORD, password_confirm: PASSWORD });
  assert.equal(started.status, 303);
  const step = await page(browser, location(started));
  assert.match(step, /no code will arrive at <strong>bob@mail\.test<\/strong>/);
  assert.doesNotMatch(step, PROMISES);
});

test('recovery says no link can be sent, and the login page does not offer it', async () => {
  const browser = new Browser(mauth.url);
  const login = await page(browser, '/login');
  assert.doesNotMatch(login, /Forgot your password/);
  const html = await page(browser, '/recover');
  assert.match(html, NO_MAIL);
  assert.equal(parseForms(html).length, 0);

  const { csrf } = parseForms(login)[0]!.fields;
  const sent = await browser.postForm('/recover', { csrf: csrf!, email: 'alice@mail.test' });
  const answer = await sent.text();
  assert.equal(sent.status, 200, answer.slice(0, 300));
  assert.match(answer, /no link will arrive/);
  assert.doesNotMatch(answer, PROMISES);
});

test('adding an address on the account page is not offered', async () => {
  const browser = new Browser(mauth.url);
  const login = parseForms(await page(browser, '/login?next=/account/emails')).find((f) => f.action.includes('/login'));
  assert.ok(login);
  const signedIn = await browser.postForm(login.action, { ...login.fields, username: 'alice', password: PASSWORD });
  assert.equal(signedIn.status, 303, await signedIn.clone().text());
  const html = await page(browser, '/account/emails');
  assert.match(html, /needs a code sent by e-mail, and this server is not set up to send e-mail/);
  assert.doesNotMatch(html, PROMISES);
  assert.ok(!parseForms(html).some((f) => f.action === '/account/emails'), 'no form to add an address');
});
