// What the account-page tests do again and again: sign a browser in, find a form on a page and
// post it, start an OAuth 2.0 or a legacy session as a client would (with its own User-Agent),
// and ask introspection whether a token still works.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Browser, location, parseForms, type ParsedForm } from './http-client.js';
import { authorize, introspect, type RegisteredClient } from './oauth-client.js';

export const scopeFor = (device: string) => `openid urn:matrix:client:api:* urn:matrix:client:device:${device}`;
export const newDeviceId = () => `DEV${randomBytes(5).toString('hex').toUpperCase()}`;

/** A browser signed in through /login, which then lands on `next`. */
export async function signIn(base: string, username: string, password: string, next = '/account/'): Promise<Browser> {
  const browser = new Browser(base);
  const page = await browser.get(`/login?next=${encodeURIComponent(next)}`);
  const form = parseForms(await page.text()).find((f) => f.action.startsWith('/login'));
  assert.ok(form, 'the login form');
  const res = await browser.postForm(form.action, { ...form.fields, username, password });
  assert.equal(res.status, 303, `login of ${username} failed: ${res.status}`);
  assert.equal(location(res), next);
  return browser;
}

/** GETs a page, expecting `status`; returns its HTML. */
export async function page(browser: Browser, path: string, status = 200): Promise<string> {
  const res = await browser.get(path);
  const html = await res.text();
  assert.equal(res.status, status, `${path} answered ${res.status}: ${html.slice(0, 400)}`);
  return html;
}

/** The form posting to `action` (whose hidden fields match `fields`, when given). */
export function formOn(html: string, action: string, fields: Record<string, string> = {}): ParsedForm {
  const form = parseForms(html).find((f) => f.action === action && Object.entries(fields).every(([k, v]) => f.fields[k] === v));
  assert.ok(form, `no form to ${action} ${JSON.stringify(fields)} on the page`);
  return form;
}

/** Posts the form to `action` found on `path`, with `values` filled in. */
export async function submit(browser: Browser, path: string, action: string, values: Record<string, string> = {}, match: Record<string, string> = {}) {
  const form = formOn(await page(browser, path), action, match);
  return browser.postForm(form.action, { ...form.fields, ...values });
}

/** An OAuth 2.0 session as a native client gets it: authorize in a browser, then exchange the code with its own User-Agent. */
export async function oauthLogin(
  base: string,
  client: RegisteredClient,
  input: { username: string; password: string; deviceId?: string; userAgent?: string },
): Promise<{ access_token: string; refresh_token: string; deviceId: string }> {
  const deviceId = input.deviceId ?? newDeviceId();
  const { params, verifier } = await authorize(new Browser(base), { client, scope: scopeFor(deviceId), username: input.username, password: input.password });
  const res = await fetch(`${base}/oauth2/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...(input.userAgent ? { 'user-agent': input.userAgent } : {}) },
    body: new URLSearchParams({
      grant_type: 'authorization_code',
      code: params.get('code')!,
      redirect_uri: client.redirect_uri,
      client_id: client.client_id,
      code_verifier: verifier,
    }),
  });
  const body = (await res.json()) as { access_token: string; refresh_token: string };
  assert.equal(res.status, 200, JSON.stringify(body));
  return { ...body, deviceId };
}

/** A legacy `m.login.password` session. */
export async function compatLogin(
  base: string,
  input: { username: string; password: string; deviceId?: string; displayName?: string; userAgent?: string },
): Promise<{ access_token: string; device_id: string }> {
  const res = await fetch(`${base}/_matrix/client/v3/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(input.userAgent ? { 'user-agent': input.userAgent } : {}) },
    body: JSON.stringify({
      type: 'm.login.password',
      identifier: { type: 'm.id.user', user: input.username },
      password: input.password,
      ...(input.deviceId ? { device_id: input.deviceId } : {}),
      ...(input.displayName ? { initial_device_display_name: input.displayName } : {}),
    }),
  });
  const body = (await res.json()) as { access_token: string; device_id: string };
  assert.equal(res.status, 200, JSON.stringify(body));
  return body;
}

export async function isActive(base: string, secret: string, token: string): Promise<boolean> {
  const { status, body } = await introspect(base, secret, token);
  assert.equal(status, 200);
  return body.active === true;
}

/** The `<li>` of the session list (or the detail page's section) that mentions `text`. */
export function sessionEntry(html: string, text: string): string {
  const entries = html.split(/<li id="session-/).slice(1);
  const entry = entries.find((e) => e.includes(text));
  assert.ok(entry, `no session entry mentions ${text}`);
  return entry;
}
