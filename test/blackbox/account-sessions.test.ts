// Black box: /account/sessions lists every kind of session of the user (an OAuth 2.0 app, a
// legacy `/login` client, browsers) with its client, device, last activity, address and user
// agent; each has a page; a device can be renamed (the homeserver hears it) and every session
// signed out (its tokens die at introspection, its device leaves the homeserver).
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { compatLogin, formOn, isActive, oauthLogin, page, sessionEntry, signIn } from '../support/account.js';
import type { HomeserverDouble } from '../support/homeserver-double.js';
import { startInProcessSetup, type Setup } from '../support/homeserver-setup.js';
import type { InProcessMauth } from '../support/mauth-inprocess.js';
import type { RegisteredClient } from '../support/oauth-client.js';

const SERVER_NAME = 'sessions.test';
const PASSWORD = 'Sam-Sessions-Password-1!';

let setup: Setup<InProcessMauth>;
let hs: HomeserverDouble;
let mauth: InProcessMauth;
let client: RegisteredClient;

before(async () => {
  setup = await startInProcessSetup({
    serverName: SERVER_NAME,
    users: ['sam', 'tom'].map((name) => ({ name, password: PASSWORD })),
    nativeClient: true,
  });
  ({ hs, mauth, client } = setup);
});

after(() => setup?.stop());

/** A moment as the page carries it: machine-readable (to the minute) in `<time datetime>`, written out in the page's language. */
const shown = (d: Date) => `<time datetime="${d.toISOString().slice(0, 16)}`;
const ENGLISH_TIME = /<time datetime="[^"]+">[A-Z][a-z]{2} \d{1,2}, \d{4}, \d{2}:\d{2} [AP]M UTC<\/time>/;

test('an OAuth 2.0 app, a legacy client and browsers all appear, with last activity, address and user agent', async () => {
  const oauth = await oauthLogin(mauth.url, client, { username: 'sam', password: PASSWORD, userAgent: 'ElementX/1.0 (test phone)' });
  const legacy = await compatLogin(mauth.url, { username: 'sam', password: PASSWORD, deviceId: 'LEGACYDEVA', displayName: 'Old laptop', userAgent: 'LegacyClient/2.0' });
  const browser = await signIn(mauth.url, 'sam', PASSWORD);

  // Minutes later (within the access token's lifetime) every session is used once: the app and the legacy client at introspection
  // (Synapse's hot path, recorded in batches), the browser by opening a page.
  await mauth.advance(240);
  const usedAt = mauth.clock.now();
  assert.equal(await isActive(mauth.url, mauth.secret, oauth.access_token), true);
  assert.equal(await isActive(mauth.url, mauth.secret, legacy.access_token), true);
  await page(browser, '/account/');
  // The batch is written at the latest when the server stops; restarting reads it back.
  await mauth.stop();
  await mauth.start();

  const html = await page(browser, '/account/sessions');
  const app = sessionEntry(html, oauth.deviceId);
  assert.match(app, new RegExp(client.client_id), 'the client is named');
  assert.match(app, /ElementX\/1\.0 \(test phone\)/);
  assert.match(app, /127\.0\.0\.1/);
  assert.ok(app.includes(shown(usedAt)) || app.includes(shown(new Date(usedAt.getTime() + 60_000))), `last active ${shown(usedAt)}: ${app}`);
  assert.match(app, ENGLISH_TIME, 'the time is written out in English');

  const old = sessionEntry(html, 'LEGACYDEVA');
  assert.match(old, /Old laptop/);
  assert.match(old, /LegacyClient\/2\.0/);
  assert.match(old, /127\.0\.0\.1/);
  assert.ok(old.includes(shown(usedAt)) || old.includes(shown(new Date(usedAt.getTime() + 60_000))), `last active ${shown(usedAt)}: ${old}`);

  const here = sessionEntry(html, 'This browser');
  assert.match(here, /class="current"/);
  assert.match(here, /127\.0\.0\.1/);
  assert.doesNotMatch(here, /<dd>not yet<\/dd>/, 'the browser has been active');

  // Each has its own page, with the same details.
  const detailPath = /href="(\/account\/sessions\/oauth2\/[^"]+)"/.exec(app)?.[1];
  assert.ok(detailPath);
  const detail = await page(browser, detailPath);
  assert.match(detail, new RegExp(`<code>${oauth.deviceId}</code>`));
  assert.match(detail, /ElementX\/1\.0 \(test phone\)/);
  const legacyPath = /href="(\/account\/sessions\/compat\/[^"]+)"/.exec(old)?.[1];
  assert.ok(legacyPath);
  assert.match(await page(browser, legacyPath), /LegacyClient\/2\.0/);
});

test('renaming a device names it on the homeserver; a name that is too long is refused on its field', async () => {
  const oauth = await oauthLogin(mauth.url, client, { username: 'sam', password: PASSWORD });
  const legacy = await compatLogin(mauth.url, { username: 'sam', password: PASSWORD, deviceId: 'LEGACYDEVB' });
  const browser = await signIn(mauth.url, 'sam', PASSWORD);
  for (const deviceId of [oauth.deviceId, legacy.device_id]) {
    const list = await page(browser, '/account/sessions');
    const path = /href="(\/account\/sessions\/(?:oauth2|compat)\/[^"]+)"/.exec(sessionEntry(list, deviceId))?.[1];
    assert.ok(path);
    const form = formOn(await page(browser, path), '/account/sessions/rename');

    const tooLong = await browser.postForm(form.action, { ...form.fields, display_name: 'x'.repeat(101) });
    assert.equal(tooLong.status, 400);
    const refused = await tooLong.text();
    assert.match(refused, /aria-describedby="display_name-help display_name-error"/);
    assert.match(refused, /id="display_name-error"[^>]*>A device name can be at most 100 characters/);

    const res = await browser.postForm(form.action, { ...form.fields, display_name: `Work phone ${deviceId}` });
    assert.equal(res.status, 200);
    assert.match(await res.text(), new RegExp(`<h1>Work phone ${deviceId}</h1>`));
    const call = await hs.waitFor((c) => c.path.endsWith('/update_device_display_name') && (c.body as { device_id?: string })?.device_id === deviceId);
    assert.deepEqual(call.body, { localpart: 'sam', device_id: deviceId, display_name: `Work phone ${deviceId}` });
    assert.equal(call.status, 200);
    assert.equal(hs.deviceDisplayName('sam', deviceId), `Work phone ${deviceId}`);
  }
});

test('signing out the OAuth 2.0 session or the legacy one kills its tokens and deletes its device', async () => {
  const oauth = await oauthLogin(mauth.url, client, { username: 'tom', password: PASSWORD });
  const legacy = await compatLogin(mauth.url, { username: 'tom', password: PASSWORD, deviceId: 'TOMLEGACY1' });
  const browser = await signIn(mauth.url, 'tom', PASSWORD);
  for (const [token, deviceId] of [
    [legacy.access_token, legacy.device_id],
    [oauth.access_token, oauth.deviceId],
  ]) {
    assert.equal(await isActive(mauth.url, mauth.secret, token), true);
    const list = await page(browser, '/account/sessions');
    const entry = sessionEntry(list, deviceId);
    const sessionId = /name="session_id" value="([^"]+)"/.exec(entry)?.[1];
    const kind = /name="kind" value="([^"]+)"/.exec(entry)?.[1];
    assert.ok(sessionId && kind);
    const form = formOn(list, '/account/sessions/end', { session_id: sessionId });
    const res = await browser.postForm(form.action, form.fields);
    assert.equal(res.status, 200);
    const after = await res.text();
    assert.match(after, /The session was signed out/);
    assert.doesNotMatch(after, new RegExp(deviceId), 'the session is gone from the list');
    assert.equal(await isActive(mauth.url, mauth.secret, token), false, `${kind} token still active`);
    const call = await hs.waitFor((c) => c.path.endsWith('/delete_device') && (c.body as { device_id?: string })?.device_id === deviceId);
    assert.deepEqual(call.body, { localpart: 'tom', device_id: deviceId });
    assert.equal(hs.devices('tom').has(deviceId), false);
  }
});

test('signing out another browser ends it; signing out this one signs out here', async () => {
  const other = await signIn(mauth.url, 'tom', PASSWORD);
  const browser = await signIn(mauth.url, 'tom', PASSWORD);
  const list = await page(browser, '/account/sessions');
  const forms = [...list.matchAll(/<li id="session-browser-([^"]+)"( class="current")?/g)];
  const otherId = forms.find((m) => !m[2])?.[1];
  const hereId = forms.find((m) => m[2])?.[1];
  assert.ok(otherId && hereId, 'both browsers are listed, this one marked');
  let form = formOn(list, '/account/sessions/end', { session_id: otherId });
  let res = await browser.postForm(form.action, form.fields);
  assert.equal(res.status, 200);
  const gone = await other.get('/account/');
  assert.equal(gone.status, 303, 'the other browser is signed out');

  form = formOn(await page(browser, '/account/sessions'), '/account/sessions/end', { session_id: hereId });
  res = await browser.postForm(form.action, form.fields);
  assert.equal(res.status, 200);
  assert.match(await res.text(), /Signed out/);
  assert.equal((await browser.get('/account/')).status, 303);
});

test('a session of someone else, or one already ended, is not found', async () => {
  const browser = await signIn(mauth.url, 'sam', PASSWORD);
  const tomsBrowser = await signIn(mauth.url, 'tom', PASSWORD);
  const tomsList = await page(tomsBrowser, '/account/sessions');
  const tomsPath = /href="(\/account\/sessions\/browser\/[^"]+)"/.exec(tomsList)?.[1];
  assert.ok(tomsPath);
  assert.match(await page(browser, tomsPath, 404), /That session has ended, or is not yours/);
  assert.match(await page(browser, '/account/sessions/nonsense/1', 404), /That session has ended/);
  const tomsId = tomsPath.split('/').pop()!;
  const form = formOn(await page(browser, '/account/sessions'), '/account/sessions/end');
  const res = await browser.postForm(form.action, { ...form.fields, kind: 'browser', session_id: tomsId });
  assert.equal(res.status, 404);
  assert.equal((await tomsBrowser.get('/account/')).status, 200, "another user's session cannot be ended");
});

test('a NUL character in an id or a device name is refused with a 4xx page, never a 500', async () => {
  const legacy = await compatLogin(mauth.url, { username: 'sam', password: PASSWORD, deviceId: 'LEGACYNUL1' });
  const browser = await signIn(mauth.url, 'sam', PASSWORD);
  const list = await page(browser, '/account/sessions');
  const entry = sessionEntry(list, legacy.device_id);
  const sessionId = /name="session_id" value="([^"]+)"/.exec(entry)?.[1];
  assert.ok(sessionId);
  const { csrf } = formOn(list, '/account/sessions/end', { session_id: sessionId }).fields;
  const answers: [string, Response][] = [
    ['GET session page', await browser.get('/account/sessions/compat/%00')],
    ['GET end page', await browser.get('/account/sessions/oauth2/A%00B/end')],
    ['GET address check', await browser.get('/account/emails/verify/%00')],
    ['POST end', await browser.postForm('/account/sessions/end', { csrf, kind: 'compat', session_id: `${sessionId}\u0000` })],
    ['POST rename, id', await browser.postForm('/account/sessions/rename', { csrf, kind: 'compat', session_id: '\u0000', display_name: 'Phone' })],
    ['POST rename, name', await browser.postForm('/account/sessions/rename', { csrf, kind: 'compat', session_id: sessionId, display_name: 'Pho\u0000ne' })],
    ['POST address check', await browser.postForm('/account/emails/verify/%00', { csrf, code: '123456' })],
    ['POST address removal', await browser.postForm('/account/emails/remove', { csrf, email_id: '\u0000' })],
  ];
  const pages = new Map<string, string>();
  for (const [what, res] of answers) {
    const html = await res.text();
    pages.set(what, html);
    assert.ok(res.status >= 400 && res.status < 500, `${what}: ${res.status} ${html.slice(0, 300)}`);
    assert.match(res.headers.get('content-type') ?? '', /^text\/html/, what);
  }
  assert.match(pages.get('POST rename, name')!, /id="display_name-error"[^>]*>A device name cannot contain control characters/);
  // Nothing was renamed, nothing ended.
  assert.equal(await isActive(mauth.url, mauth.secret, legacy.access_token), true);
  assert.doesNotMatch(sessionEntry(await page(browser, '/account/sessions'), legacy.device_id), /Pho/);
});

test('no request in this file produced a 5xx or an error log', () => {
  assert.doesNotMatch(mauth.output(), /"status":5\d\d|request failed|unhandled error|"level":50/);
});
