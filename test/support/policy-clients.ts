// What the policy black-box tests share: a browser that sends its own address (through
// X-Forwarded-For, which the test listener trusts from 127.0.0.1) and user agent, and the steps
// a user takes to sign in and to start the browser half of `m.login.sso`.
import assert from 'node:assert/strict';
import { Browser, location, parseForms } from './http-client.js';

export class PolicyBrowser extends Browser {
  constructor(
    base: string,
    readonly identity: { ip?: string; userAgent?: string } = {},
  ) {
    super(base);
  }

  override request(url: string, init: RequestInit = {}): Promise<Response> {
    const headers = new Headers(init.headers);
    if (this.identity.ip) headers.set('x-forwarded-for', this.identity.ip);
    if (this.identity.userAgent) headers.set('user-agent', this.identity.userAgent);
    return super.request(url, { ...init, headers });
  }

  /** The headers of a plain fetch from the same requester. */
  headers(): Record<string, string> {
    return {
      ...(this.identity.ip ? { 'x-forwarded-for': this.identity.ip } : {}),
      ...(this.identity.userAgent ? { 'user-agent': this.identity.userAgent } : {}),
    };
  }
}

/** Signs the browser in on /login (the browser login itself is never refused by a policy). */
export async function signIn(browser: Browser, username: string, password: string): Promise<void> {
  const form = parseForms(await (await browser.get('/login')).text()).find((f) => f.action.includes('/login'));
  assert.ok(form, 'the login form');
  const res = await browser.postForm(form.action, { ...form.fields, username, password });
  assert.equal(res.status, 303, `signed in as ${username}`);
}

/** Starts `m.login.sso` as a legacy client would; returns the browser page's path. */
export async function startCompatSso(browser: Browser, redirectUrl = 'https://client.example/after-sso'): Promise<string> {
  const res = await browser.get(`/_matrix/client/v3/login/sso/redirect?redirectUrl=${encodeURIComponent(redirectUrl)}`);
  assert.equal(res.status, 303);
  return new URL(location(res)).pathname;
}

export async function compatPasswordLogin(base: string, username: string, password: string, extra: Record<string, unknown> = {}, headers: Record<string, string> = {}) {
  const res = await fetch(`${base}/_matrix/client/v3/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ type: 'm.login.password', identifier: { type: 'm.id.user', user: username }, password, ...extra }),
  });
  return { status: res.status, body: (await res.json()) as Record<string, any> };
}
