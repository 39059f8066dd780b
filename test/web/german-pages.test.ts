// Black box: every page (and both e-mails) in German with `Accept-Language: de`, with no text of
// the English catalogue left and no stray English words (brand names, user data and the names
// below excepted). Each page is one entry of PAGES, visited in order by a German browser: a new
// page is one line here. The account pages are walked as `karla` (sessions of every kind),
// `paul` (password) and `dora` (deactivation), and on a second server that switches every
// `account.*_allowed` off, as `ivo`. Also: `?lang=` switches the language and is remembered in a
// cookie.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { compatLogin, oauthLogin } from '../support/account.js';
import { startHomeserverDouble, type HomeserverDouble } from '../support/homeserver-double.js';
import { Browser, location, parseForms } from '../support/http-client.js';
import { createMauth, type MauthInstance } from '../support/mauth-process.js';
import { englishFinder, visibleText } from '../support/english-left.js';
import { registerClient, registerNativeClient, pkce, type RegisteredClient } from '../support/oauth-client.js';
import { startSmtp, type SmtpCatcher, type CapturedMail } from '../support/smtp.js';
import { startUpstreamSetup, type UpstreamSetup } from '../support/upstream-setup.js';
import { follow, upstreamLogin } from '../support/upstream-provider.js';

const SERVER_NAME = 'wanderung.test';
const PROVIDER_ID = '01JDW0000000000000000000WK';
const STRONG = 'Wanderschuhe-im-Regen-42!';
const TOKEN = 'wanderkarte-2026';
/** The server of the walk's second Mauth, where every `account.*_allowed` is off. */
const LOCKED_SERVER_NAME = 'gesperrt.test';
/** karla's devices: an app signed in through Mauth and one signed in the legacy way. */
const TABLET = 'KARLASTABLET';
const PHONE = 'KARLASTELEFON';

/** A browser whose every request says `Accept-Language: de`. */
class GermanBrowser extends Browser {
  override request(url: string, init: RequestInit = {}): Promise<Response> {
    const headers = new Headers(init.headers);
    headers.set('accept-language', 'de-DE,de;q=0.9,en;q=0.5');
    return super.request(url, { ...init, headers });
  }
}

let setup: UpstreamSetup;
let smtp: SmtpCatcher;
let client: RegisteredClient;
/** A TV-style app that signs in with the device authorization grant. */
let deviceClientId: string;
let base: string;
let lockedHs: HomeserverDouble;
let locked: MauthInstance;
const state: Record<string, unknown> = {};

/** What a visit hands back: a page, or a mail (checked the same way). */
type Seen = Response | CapturedMail;

interface Walk {
  browser(): GermanBrowser;
  /** A German browser signed in (as `wanda` unless told). */
  signedIn(username?: string): Promise<GermanBrowser>;
  /** Follows redirects on Mauth to the page they end at. */
  follow(browser: Browser, res: Response): Promise<Response>;
  /** Submits the form whose action matches (the first form by default) on `page`. */
  submit(browser: Browser, page: Response, fields: Record<string, string>, action?: RegExp): Promise<Response>;
  /** Starts an authorization request; answers the page it lands on (the login form for a new browser). */
  authorize(browser: Browser, scope?: string): Promise<Response>;
  mailTo(address: string, since: number): Promise<CapturedMail>;
  /** Starts a device authorization grant, types its code on /link and answers the consent page it leads to. */
  linkDevice(browser: Browser): Promise<Response>;
  /** A German browser signed in as `ivo` on the server whose account sections are all switched off. */
  lockedIn(): Promise<GermanBrowser>;
  /** Follows the MSC4191 deep link `/account/?action=…` (with `device_id`) to the page it leads to. */
  deepLink(browser: Browser, action: string, deviceId?: string): Promise<Response>;
  /** Shared between visits that continue one flow. */
  state: Record<string, unknown>;
}

const DEVICE_SCOPE = 'openid urn:matrix:client:api:* urn:matrix:client:device:WANDERGERAET';

/** Every page, in the order a German visitor meets them. */
const PAGES: { name: string; visit(w: Walk): Promise<Seen> }[] = [
  { name: 'login', visit: (w) => w.browser().get('/login') },
  { name: 'signed-out page', visit: (w) => w.browser().get('/logout') },
  { name: 'sign-out page', visit: async (w) => (await w.signedIn()).get('/logout') },
  { name: 'authorization login', visit: (w) => w.authorize(w.browser()) },
  {
    name: 'authorization login, wrong password',
    visit: async (w) => {
      const b = w.browser();
      return w.submit(b, await w.authorize(b), { username: 'wanda', password: 'falsch' }, /\/login$/);
    },
  },
  { name: 'consent', visit: async (w) => w.authorize(await w.signedIn()) },
  { name: 'consent refused (administrator scope)', visit: async (w) => w.authorize(await w.signedIn(), `${DEVICE_SCOPE} urn:synapse:admin:*`) },
  { name: 'registration form', visit: (w) => w.browser().get('/register') },
  {
    name: 'registration form, every field wrong',
    visit: async (w) => {
      const b = w.browser();
      return w.submit(b, await b.get('/register'), { username: 'Kein Name', email: 'keine adresse', password: 'eins', password_confirm: 'zwei' });
    },
  },
  {
    name: 'registration form, weak password',
    visit: async (w) => {
      const b = w.browser();
      return w.submit(b, await b.get('/register'), { username: 'neuling', email: 'neuling@wanderung.test', password: 'password1', password_confirm: 'password1', accept_terms: 'on' });
    },
  },
  {
    name: 'registration token',
    visit: async (w) => {
      const b = w.browser();
      w.state.registrant = b;
      const form = { username: 'neuling', email: 'neuling@wanderung.test', password: STRONG, password_confirm: STRONG, accept_terms: 'on' };
      return w.follow(b, await w.submit(b, await b.get('/register'), form));
    },
  },
  {
    name: 'registration token, wrong token',
    visit: async (w) => {
      const b = w.state.registrant as GermanBrowser;
      const page = await b.get(String(w.state.tokenStep ?? ''));
      return w.submit(b, page, { token: 'falsches-token' });
    },
  },
  {
    name: 'e-mail code',
    visit: async (w) => {
      const b = w.state.registrant as GermanBrowser;
      w.state.mailsBefore = Date.now();
      const page = await b.get(String(w.state.tokenStep));
      return w.follow(b, await w.submit(b, page, { token: TOKEN }));
    },
  },
  { name: 'the verification e-mail', visit: (w) => w.mailTo('neuling@wanderung.test', w.state.mailsBefore as number) },
  {
    name: 'e-mail code, wrong code',
    visit: async (w) => {
      const b = w.state.registrant as GermanBrowser;
      return w.submit(b, await b.get(String(w.state.verifyStep)), { code: '000000', action: 'verify' });
    },
  },
  {
    name: 'e-mail code, a new code sent',
    visit: async (w) => {
      const b = w.state.registrant as GermanBrowser;
      return w.submit(b, await b.get(String(w.state.verifyStep)), { action: 'resend' });
    },
  },
  {
    name: 'display name',
    visit: async (w) => {
      const b = w.state.registrant as GermanBrowser;
      const mail = await w.mailTo('neuling@wanderung.test', w.state.mailsBefore as number);
      const code = /\b(\d{6})\b/.exec(mail.text)![1]!;
      return w.follow(b, await w.submit(b, await b.get(String(w.state.verifyStep)), { code, action: 'verify' }));
    },
  },
  { name: 'account recovery', visit: (w) => w.browser().get('/recover') },
  {
    name: 'account recovery, not an address',
    visit: async (w) => {
      const b = w.browser();
      return w.submit(b, await b.get('/recover'), { email: 'rita bei wanderung' });
    },
  },
  {
    name: 'account recovery, link sent',
    visit: async (w) => {
      const b = w.browser();
      w.state.mailsBefore = Date.now();
      return w.submit(b, await b.get('/recover'), { email: 'rita@wanderung.test' });
    },
  },
  { name: 'the recovery e-mail', visit: (w) => w.mailTo('rita@wanderung.test', w.state.mailsBefore as number) },
  {
    name: 'new password',
    visit: async (w) => {
      const mail = await w.mailTo('rita@wanderung.test', w.state.mailsBefore as number);
      w.state.recoveryLink = /https?:\/\/\S+recover\/complete\?ticket=[\w-]+/.exec(mail.text)![0];
      return w.browser().get(String(w.state.recoveryLink));
    },
  },
  {
    name: 'new password, not repeated',
    visit: async (w) => {
      const b = w.browser();
      return w.submit(b, await b.get(String(w.state.recoveryLink)), { password: STRONG, password_confirm: `${STRONG}x` });
    },
  },
  {
    name: 'password changed',
    visit: async (w) => {
      const b = w.browser();
      return w.submit(b, await b.get(String(w.state.recoveryLink)), { password: STRONG, password_confirm: STRONG });
    },
  },
  { name: 'recovery link used up', visit: (w) => w.browser().get(String(w.state.recoveryLink)) },
  {
    name: 'legacy SSO confirmation',
    visit: async (w) => {
      const b = await w.signedIn();
      return w.follow(b, await b.get('/_matrix/client/v3/login/sso/redirect?redirectUrl=http%3A%2F%2Fapp.wanderung.test%2Fsso'));
    },
  },
  {
    name: 'upstream registration',
    visit: async (w) => {
      const b = w.browser();
      return upstreamLogin(b, await follow(b, await b.get(`/upstream/authorize/${PROVIDER_ID}`)), 'kc-berta', 'berta-pass-1');
    },
  },
  {
    name: 'upstream link offer',
    visit: async (w) => {
      const b = await w.signedIn();
      return upstreamLogin(b, await follow(b, await b.get(`/upstream/authorize/${PROVIDER_ID}`)), 'kc-wanda', 'wanda-pass-1');
    },
  },
  { name: 'link a device', visit: (w) => w.browser().get('/link') },
  { name: 'link a device, wrong code', visit: async (w) => { const b = w.browser(); return w.submit(b, await b.get('/link'), { code: 'FALSCH' }); } },
  { name: 'device consent', visit: async (w) => w.linkDevice(await w.signedIn()) },
  {
    name: 'device consent, not confirmed',
    visit: async (w) => {
      const b = await w.signedIn();
      const consent = await w.linkDevice(b);
      const form = parseForms(await consent.text())[0]!;
      return b.postForm(form.action, { csrf: form.fields.csrf!, action: 'consent' });
    },
  },
  {
    name: 'device allowed',
    visit: async (w) => {
      const b = await w.signedIn();
      const consent = await w.linkDevice(b);
      w.state.allowedDevice = consent.url;
      return w.submit(b, consent, { action: 'consent' });
    },
  },
  { name: 'device denied', visit: async (w) => { const b = await w.signedIn(); return w.submit(b, await w.linkDevice(b), { action: 'reject' }); } },
  { name: 'device request answered by someone else', visit: async (w) => (await w.signedIn('ute')).get(String(w.state.allowedDevice)) },
  { name: 'not found', visit: (w) => w.browser().get('/gibt-es-nicht') },
  { name: 'form expired', visit: (w) => w.browser().postForm('/recover', { email: 'x@wanderung.test' }) },
  { name: 'sign-in link expired', visit: (w) => w.browser().get('/interaction/abgelaufen') },
  { name: 'registration over', visit: (w) => w.browser().get('/register/steps/vorbei/token') },
  { name: 'unknown sign-in option', visit: (w) => w.browser().get('/upstream/authorize/01JDW00000000000000000NONE') },
  { name: 'authorization request refused', visit: (w) => w.browser().get(`/authorize?client_id=${client.client_id}&redirect_uri=https%3A%2F%2Fbose.example%2F&response_type=code&scope=openid`) },

  // The account pages: the sign-in page of /login, the home page, every MSC4191 action, and each
  // section with its notices and errors.
  { name: 'sign-in page, nothing typed', visit: async (w) => { const b = w.browser(); return w.submit(b, await b.get('/login?next=%2Faccount%2F'), { username: '', password: '' }); } },
  { name: 'sign-in page, wrong password', visit: async (w) => { const b = w.browser(); return w.submit(b, await b.get('/login?next=%2Faccount%2F'), { username: 'karla', password: 'falsch' }); } },
  { name: 'account', visit: async (w) => (await w.signedIn('karla')).get('/account/') },
  { name: 'account, unknown action', visit: async (w) => w.deepLink(await w.signedIn('karla'), 'org.example.unbekannt') },
  { name: 'action org.matrix.profile', visit: async (w) => w.deepLink(await w.signedIn('karla'), 'org.matrix.profile') },
  { name: 'action org.matrix.devices_list', visit: async (w) => w.deepLink(await w.signedIn('karla'), 'org.matrix.devices_list') },
  { name: 'action org.matrix.sessions_list', visit: async (w) => w.deepLink(await w.signedIn('karla'), 'org.matrix.sessions_list') },
  { name: 'action org.matrix.device_view (an app)', visit: async (w) => w.deepLink(await w.signedIn('karla'), 'org.matrix.device_view', TABLET) },
  { name: 'action org.matrix.session_view (a legacy app)', visit: async (w) => w.deepLink(await w.signedIn('karla'), 'org.matrix.session_view', PHONE) },
  { name: 'action org.matrix.device_delete: sign-out confirmation', visit: async (w) => w.deepLink(await w.signedIn('karla'), 'org.matrix.device_delete', TABLET) },
  { name: 'action org.matrix.session_end: sign-out confirmation', visit: async (w) => w.deepLink(await w.signedIn('karla'), 'org.matrix.session_end', PHONE) },
  { name: 'action org.matrix.device_view, unknown device', visit: async (w) => w.deepLink(await w.signedIn('karla'), 'org.matrix.device_view', 'GIBTESNICHT') },
  { name: 'action org.matrix.cross_signing_reset', visit: async (w) => w.deepLink(await w.signedIn('karla'), 'org.matrix.cross_signing_reset') },
  { name: 'action org.matrix.account_deactivate', visit: async (w) => w.deepLink(await w.signedIn('karla'), 'org.matrix.account_deactivate') },
  {
    name: 'profile, display name too long',
    visit: async (w) => { const b = await w.signedIn('karla'); return w.submit(b, await b.get('/account/profile'), { display_name: 'k'.repeat(300) }, /\/account\/profile$/); },
  },
  {
    name: 'profile, display name saved',
    visit: async (w) => { const b = await w.signedIn('karla'); return w.submit(b, await b.get('/account/profile'), { display_name: 'Karla Kletter' }, /\/account\/profile$/); },
  },
  { name: 'e-mail addresses', visit: async (w) => (await w.signedIn('karla')).get('/account/emails') },
  {
    name: 'e-mail addresses, not an address',
    visit: async (w) => { const b = await w.signedIn('karla'); return w.submit(b, await b.get('/account/emails'), { email: 'karla bei wanderung' }, /\/account\/emails$/); },
  },
  {
    name: 'e-mail addresses, code for a new address',
    visit: async (w) => {
      const b = await w.signedIn('karla');
      w.state.karla = b;
      w.state.mailsBefore = Date.now();
      const sent = await w.submit(b, await b.get('/account/emails'), { email: 'karla.zwei@wanderung.test' }, /\/account\/emails$/);
      assert.equal(sent.status, 303, 'the code is sent');
      w.state.addressStep = location(sent);
      return b.get(location(sent));
    },
  },
  { name: 'the code e-mail for a new address', visit: (w) => w.mailTo('karla.zwei@wanderung.test', w.state.mailsBefore as number) },
  {
    name: 'e-mail addresses, the new address verified',
    visit: async (w) => {
      const b = w.state.karla as GermanBrowser;
      const mail = await w.mailTo('karla.zwei@wanderung.test', w.state.mailsBefore as number);
      const code = /\b(\d{6})\b/.exec(mail.text)![1]!;
      return w.submit(b, await b.get(String(w.state.addressStep)), { code, action: 'verify' });
    },
  },
  {
    name: 'e-mail addresses, an address removed',
    visit: async (w) => {
      const b = w.state.karla as GermanBrowser;
      const forms = parseForms(await (await b.get('/account/emails')).text()).filter((f) => f.action === '/account/emails/remove');
      assert.equal(forms.length, 2, 'both verified addresses can be removed');
      w.state.removeForms = forms;
      return b.postForm(forms[0]!.action, forms[0]!.fields);
    },
  },
  {
    name: 'e-mail addresses, an address no longer there',
    visit: async (w) => {
      const form = (w.state.removeForms as ReturnType<typeof parseForms>)[0]!;
      return (w.state.karla as GermanBrowser).postForm(form.action, form.fields);
    },
  },
  {
    name: 'e-mail addresses, the last verified address stays',
    visit: async (w) => {
      const form = (w.state.removeForms as ReturnType<typeof parseForms>)[1]!;
      return (w.state.karla as GermanBrowser).postForm(form.action, form.fields);
    },
  },
  { name: 'sessions', visit: async (w) => (await w.signedIn('karla')).get('/account/sessions') },
  {
    name: 'session of this browser',
    visit: async (w) => {
      const b = await w.signedIn('karla');
      const list = await (await b.get('/account/sessions')).text();
      const id = /id="session-browser-(\w+)" class="current"/.exec(list)?.[1];
      assert.ok(id, 'the list marks this browser');
      return b.get(`/account/sessions/browser/${id}`);
    },
  },
  {
    name: 'session, device name too long',
    visit: async (w) => { const b = await w.signedIn('karla'); return w.submit(b, await w.deepLink(b, 'org.matrix.device_view', TABLET), { display_name: 't'.repeat(101) }, /rename$/); },
  },
  {
    name: 'session, device renamed',
    visit: async (w) => { const b = await w.signedIn('karla'); return w.submit(b, await w.deepLink(b, 'org.matrix.device_view', TABLET), { display_name: 'Karlas Tablet' }, /rename$/); },
  },
  {
    name: 'session signed out',
    visit: async (w) => {
      const b = await w.signedIn('karla');
      const confirmation = await w.deepLink(b, 'org.matrix.session_end', PHONE);
      w.state.endedSession = new URL(confirmation.url).pathname.replace(/\/end$/, '');
      return w.submit(b, confirmation, {}, /\/account\/sessions\/end$/);
    },
  },
  { name: 'session already signed out', visit: async (w) => (await w.signedIn('karla')).get(String(w.state.endedSession)) },
  {
    name: 'cross-signing reset, wrong password',
    visit: async (w) => { const b = await w.signedIn('karla'); return w.submit(b, await b.get('/account/cross-signing'), { password: 'falsch' }, /cross-signing$/); },
  },
  {
    name: 'cross-signing reset allowed',
    visit: async (w) => { const b = await w.signedIn('karla'); return w.submit(b, await b.get('/account/cross-signing'), { password: 'karla-pw-Wanderung-1' }, /cross-signing$/); },
  },
  { name: 'password', visit: async (w) => (await w.signedIn('paul')).get('/account/password') },
  {
    name: 'password, wrong current password',
    visit: async (w) => {
      const b = await w.signedIn('paul');
      return w.submit(b, await b.get('/account/password'), { current_password: 'falsch', new_password: STRONG, new_password_confirm: STRONG }, /\/account\/password$/);
    },
  },
  {
    name: 'password, weak new password',
    visit: async (w) => {
      const b = await w.signedIn('paul');
      return w.submit(b, await b.get('/account/password'), { current_password: 'paul-pw-Wanderung-1', new_password: 'password1', new_password_confirm: 'password1' }, /\/account\/password$/);
    },
  },
  {
    name: 'password, not repeated',
    visit: async (w) => {
      const b = await w.signedIn('paul');
      return w.submit(b, await b.get('/account/password'), { current_password: 'paul-pw-Wanderung-1', new_password: STRONG, new_password_confirm: `${STRONG}x` }, /\/account\/password$/);
    },
  },
  {
    name: 'password changed, other sessions signed out',
    visit: async (w) => {
      const b = await w.signedIn('paul');
      const fields = { current_password: 'paul-pw-Wanderung-1', new_password: STRONG, new_password_confirm: STRONG, sign_out_others: 'on' };
      return w.submit(b, await b.get('/account/password'), fields, /\/account\/password$/);
    },
  },
  {
    name: 'deactivation, not confirmed',
    visit: async (w) => { const b = await w.signedIn('dora'); return w.submit(b, await b.get('/account/deactivate'), { password: 'dora-pw-Wanderung-1' }, /deactivate$/); },
  },
  {
    name: 'deactivation, wrong password',
    visit: async (w) => { const b = await w.signedIn('dora'); return w.submit(b, await b.get('/account/deactivate'), { confirm: 'on', password: 'falsch' }, /deactivate$/); },
  },
  {
    name: 'account deactivated, data erased',
    visit: async (w) => { const b = await w.signedIn('dora'); return w.submit(b, await b.get('/account/deactivate'), { confirm: 'on', erase: 'on', password: 'dora-pw-Wanderung-1' }, /deactivate$/); },
  },
  { name: 'account with every section switched off', visit: async (w) => (await w.lockedIn()).get('/account/') },
  { name: 'profile, display name fixed', visit: async (w) => (await w.lockedIn()).get('/account/profile') },
  { name: 'e-mail addresses, fixed', visit: async (w) => (await w.lockedIn()).get('/account/emails') },
  { name: 'password, not available', visit: async (w) => (await w.lockedIn()).get('/account/password') },
  { name: 'deactivation, not available', visit: async (w) => (await w.lockedIn()).get('/account/deactivate') },
  {
    name: 'display name, not available',
    visit: async (w) => {
      const b = await w.lockedIn();
      const csrf = parseForms(await (await b.get('/account/')).text())[0]!.fields.csrf!;
      return b.postForm('/account/profile', { csrf, display_name: 'Ivo' });
    },
  },
  {
    name: 'e-mail addresses, not available',
    visit: async (w) => {
      const b = await w.lockedIn();
      const csrf = parseForms(await (await b.get('/account/')).text())[0]!.fields.csrf!;
      return b.postForm('/account/emails', { csrf, email: 'ivo.zwei@wanderung.test' });
    },
  },
];

/** Names the pages show that are no one's language: the service, server, people, addresses, codes. */
const ALLOWED = [
  ...['Wanderdienst', 'Wanderuhr', SERVER_NAME, 'wanda', 'neuling', 'berta', 'rita', 'Berta Bergsteiger', 'app.wanderung.test', 'WANDERGERAET'],
  ...[LOCKED_SERVER_NAME, 'karla', 'paul', 'dora', 'ivo', 'Karla Kletter', 'Karlas Tablet', 'Wanderapp', 'Android', 'iPadOS', 'https://app.example.org/', 'app.example.org'],
];

before(async () => {
  smtp = await startSmtp();
  setup = await startUpstreamSetup({
    serverName: SERVER_NAME,
    providerId: PROVIDER_ID,
    accounts: [
      { sub: 'kc-berta', password: 'berta-pass-1', preferred_username: 'berta', email: 'berta@wanderung.test', email_verified: false, name: 'Berta Bergsteiger' },
      { sub: 'kc-wanda', password: 'wanda-pass-1', preferred_username: 'wanda', email: 'wanda@wanderung.test', email_verified: true, name: 'Wanda' },
    ],
    extra: {
      branding: { service_name: 'Wanderdienst', tos_uri: 'https://wanderung.test/agb' },
      account: {
        password_registration_enabled: true,
        password_registration_email_required: true,
        registration_token_required: true,
        password_recovery_enabled: true,
      },
      email: { transport: 'smtp', mode: 'plain', hostname: '127.0.0.1', port: smtp.port, from: 'konto@wanderung.test' },
      rate_limiting: {
        login: { per_ip: { burst: 1000, per_second: 100 }, per_account: { burst: 1000, per_second: 100 } },
        username_availability: { burst: 1000, per_second: 100 },
        registration: { burst: 1000, per_second: 100 },
        email_authentication: { per_ip: { burst: 1000, per_second: 100 }, per_address: { burst: 1000, per_second: 100 }, emails_per_session: { burst: 1000, per_second: 100 } },
        account_recovery: { per_ip: { burst: 1000, per_second: 100 }, per_address: { burst: 1000, per_second: 100 } },
      },
    },
  });
  base = setup.mauth.url;
  for (const [name, email] of [['wanda', 'wanda@wanderung.test'], ['rita', 'rita@wanderung.test'], ['ute', 'ute@wanderung.test']]) {
    const made = await setup.mauth.cli('manage', 'register-user', name!, '--password', `${name}-pw-Wanderung-1`, '--email', email!, '--yes');
    assert.equal(made.code, 0, made.stderr);
  }
  assert.equal((await setup.mauth.cli('manage', 'issue-user-registration-token', '--token', TOKEN)).code, 0);
  client = await registerNativeClient(base, 'http://127.0.0.1:9/cb');
  const device = await registerClient(base, {
    client_name: 'Wanderuhr',
    client_uri: 'https://uhr.wanderung.test/',
    application_type: 'native',
    token_endpoint_auth_method: 'none',
    grant_types: ['urn:ietf:params:oauth:grant-type:device_code'],
    response_types: [],
  });
  deviceClientId = ((await device.json()) as { client_id: string }).client_id;

  for (const name of ['karla', 'paul', 'dora']) {
    const made = await setup.mauth.cli('manage', 'register-user', name, '--password', `${name}-pw-Wanderung-1`, '--email', `${name}@wanderung.test`, '--yes');
    assert.equal(made.code, 0, made.stderr);
  }
  const karla = { username: 'karla', password: 'karla-pw-Wanderung-1' };
  await oauthLogin(base, client, { ...karla, deviceId: TABLET, userAgent: 'Wanderapp/3.1 (iPadOS 18)' });
  await compatLogin(base, { ...karla, deviceId: PHONE, userAgent: 'Wanderapp/2.0 (Android 14)' });

  const secret = randomBytes(16).toString('hex');
  lockedHs = await startHomeserverDouble({ secret, serverName: LOCKED_SERVER_NAME });
  locked = await createMauth({
    homeserverUrl: lockedHs.url,
    serverName: LOCKED_SERVER_NAME,
    secret,
    extra: {
      branding: { service_name: 'Wanderdienst' },
      account: { displayname_change_allowed: false, email_change_allowed: false, password_change_allowed: false, account_deactivation_allowed: false },
      email: { transport: 'smtp', mode: 'plain', hostname: '127.0.0.1', port: smtp.port, from: 'konto@gesperrt.test' },
    },
  });
  const ivo = await locked.cli('manage', 'register-user', 'ivo', '--password', 'ivo-pw-Wanderung-1', '--email', 'ivo@gesperrt.test', '--yes');
  assert.equal(ivo.code, 0, ivo.stderr);
  await locked.start();
});

after(async () => {
  await locked?.stop();
  await locked?.drop();
  await lockedHs?.stop();
  await setup?.stop();
  await smtp?.stop();
});

function walk(): Walk {
  const w: Walk = {
    state,
    browser: () => new GermanBrowser(base),
    async signedIn(username = 'wanda') {
      const b = w.browser();
      const res = await w.submit(b, await b.get('/login'), { username, password: `${username}-pw-Wanderung-1` });
      assert.equal(res.status, 303, 'signed in');
      return b;
    },
    async follow(b, res) {
      for (let i = 0; i < 10 && (res.status === 302 || res.status === 303); i += 1) res = await b.get(location(res));
      return res;
    },
    async submit(b, page, fields, action) {
      const html = await page.text();
      const form = parseForms(html).find((f) => !action || action.test(f.action));
      assert.ok(form, `a form on ${page.url}: ${html.slice(0, 300)}`);
      return b.postForm(form.action, { ...form.fields, ...fields });
    },
    async authorize(b, scope = DEVICE_SCOPE) {
      const query = new URLSearchParams({ client_id: client.client_id, redirect_uri: client.redirect_uri, response_type: 'code', scope, state: 'wandern', code_challenge: pkce().challenge, code_challenge_method: 'S256' });
      return w.follow(b, await b.get(`/authorize?${query}`));
    },
    async linkDevice(b) {
      const started = await fetch(`${base}/oauth2/device`, { method: 'POST', headers: { 'user-agent': 'Wanderuhr/1.0' }, body: new URLSearchParams({ client_id: deviceClientId, scope: DEVICE_SCOPE }) });
      const { user_code: code } = (await started.json()) as { user_code: string };
      assert.equal(started.status, 200, `a device grant: ${code}`);
      const linked = await w.submit(b, await b.get('/link'), { code });
      assert.equal(linked.status, 303, 'the code leads to the consent page');
      return w.follow(b, linked);
    },
    mailTo: (address, since) => smtp.waitFor((m) => m.to.includes(address) && m.at.getTime() >= since),
    async lockedIn() {
      const b = new GermanBrowser(locked.url);
      const res = await w.submit(b, await b.get('/login'), { username: 'ivo', password: 'ivo-pw-Wanderung-1' });
      assert.equal(res.status, 303, 'signed in');
      return b;
    },
    async deepLink(b, action, deviceId) {
      const query = new URLSearchParams({ action, ...(deviceId ? { device_id: deviceId } : {}) });
      return w.follow(b, await b.get(`/account/?${query}`));
    },
  };
  return w;
}
describe('German pages', () => {
  const finder = englishFinder('de');
  const w = walk();

  for (const page of PAGES) {
    test(`${page.name}: German, no English left`, async () => {
      const seen = await page.visit(w);
      let text: string;
      if (seen instanceof Response) {
        const html = await seen.text();
        if (seen.url.includes('/register/steps/') && seen.url.endsWith('/token')) state.tokenStep = new URL(seen.url).pathname;
        if (seen.url.includes('/verify-email')) state.verifyStep = new URL(seen.url).pathname;
        assert.ok(seen.status < 500, `${seen.status} ${seen.url}`);
        assert.match(html, /<html lang="de">/, `${page.name} (${seen.status} ${seen.url}): ${html.slice(0, 400)}`);
        text = visibleText(html.replace(/<code\b[^>]*>[\s\S]*?<\/code>/g, ' '));
      } else {
        text = `${seen.subject}\n${seen.text}\n${visibleText(seen.html)}`;
      }
      const names = [...ALLOWED, base, new URL(base).host, locked.url, new URL(locked.url).host, client.client_id, setup.idp.issuer, new URL(setup.idp.issuer).host];
      assert.deepEqual(finder.find(text, names), [], `${page.name}:\n${text.replace(/\n\s*\n+/g, '\n').slice(0, 3000)}`);
    });
  }
});

describe('choosing the language', () => {
  test('?lang= overrides Accept-Language and is remembered in a cookie; an unknown one is ignored', async () => {
    const b = new Browser(base);
    const de = await b.get('/login?lang=de');
    assert.match(await de.text(), /<html lang="de">[\s\S]*Benutzername/);
    assert.equal(b.cookie('mauth.lang'), 'de');
    const later = await b.request('/register', { headers: { 'accept-language': 'en' } });
    assert.match(await later.text(), /<html lang="de">/, 'the cookie wins over Accept-Language');
    await (await b.get('/login?lang=xx')).text();
    assert.equal(b.cookie('mauth.lang'), 'de');
    const en = await b.get('/login?lang=en');
    assert.match(await en.text(), /<html lang="en">[\s\S]*Username/);
    assert.equal(b.cookie('mauth.lang'), 'en');
  });

  test('a language cookie that is not valid percent-encoding is ignored: the page answers, in the language asked for', async () => {
    for (const value of ['%E0', '%', 'de%zz']) {
      const res = await fetch(`${base}/login`, { headers: { cookie: `mauth.lang=${value}`, 'accept-language': 'de' } });
      const html = await res.text();
      assert.equal(res.status, 200, `mauth.lang=${value}: ${html.slice(0, 300)}`);
      assert.match(html, /<html lang="de">/, value);
    }
  });

  test('a page offers the other languages as links to itself', async () => {
    const html = await (await new GermanBrowser(base).get('/register?next=%2Faccount%2F')).text();
    assert.match(html, /<a href="\/register\?next=%2Faccount%2F&amp;lang=en" lang="en" hreflang="en">English<\/a>/);
  });

  test('without Accept-Language, or with one Mauth has no catalogue for, pages are English', async () => {
    for (const header of ['', 'fr-FR, *;q=0.5']) {
      const html = await (await fetch(`${base}/login`, { headers: header ? { 'accept-language': header } : {} })).text();
      assert.match(html, /<html lang="en">/, header);
    }
  });
});
