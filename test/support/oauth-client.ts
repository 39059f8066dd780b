// What a Matrix client does against Mauth: register, authorize with PKCE through the HTML
// forms, exchange and refresh tokens, revoke; and what Synapse does: introspect.
import { createHash, randomBytes } from 'node:crypto';
import assert from 'node:assert/strict';
import { Browser, location, parseForms } from './http-client.js';

export interface RegisteredClient {
  client_id: string;
  redirect_uri: string;
}

export async function registerClient(base: string, metadata: Record<string, unknown>): Promise<Response> {
  return fetch(`${base}/oauth2/registration`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(metadata),
  });
}

/** Registers a public native client with a loopback redirect, as Element X does; returns it. */
export async function registerNativeClient(base: string, redirectUri = 'http://127.0.0.1/cb'): Promise<RegisteredClient> {
  const res = await registerClient(base, {
    application_type: 'native',
    client_uri: 'https://app.example.org/',
    redirect_uris: [redirectUri],
    token_endpoint_auth_method: 'none',
    response_types: ['code'],
    grant_types: ['authorization_code', 'refresh_token'],
  });
  const body = (await res.json()) as { client_id?: string };
  assert.equal(res.status, 201, JSON.stringify(body));
  return { client_id: body.client_id!, redirect_uri: redirectUri };
}

export function pkce() {
  const verifier = randomBytes(32).toString('base64url');
  const challenge = createHash('sha256').update(verifier).digest('base64url');
  return { verifier, challenge };
}

export interface AuthorizeOptions {
  client: RegisteredClient;
  scope: string;
  responseMode?: 'query' | 'fragment';
  username?: string;
  password?: string;
  extra?: Record<string, string>;
  challenge?: string | null;
  decision?: 'allow' | 'deny';
}

export interface AuthorizeResult {
  /** The final redirect to the client, parsed (query or fragment parameters). */
  params: URLSearchParams;
  redirect: string;
  verifier: string;
  pages: string[];
}

/** Drives /authorize → login → consent → redirect, filling in the forms it meets. */
export async function authorize(browser: Browser, options: AuthorizeOptions): Promise<AuthorizeResult> {
  const { verifier, challenge } = pkce();
  const state = randomBytes(8).toString('hex');
  const query = new URLSearchParams({
    client_id: options.client.client_id,
    redirect_uri: options.client.redirect_uri,
    response_type: 'code',
    scope: options.scope,
    state,
    ...(options.responseMode ? { response_mode: options.responseMode } : {}),
    ...(options.challenge === null ? {} : { code_challenge: options.challenge ?? challenge, code_challenge_method: 'S256' }),
    ...options.extra,
  });
  let res = await browser.get(`/authorize?${query}`);
  const pages: string[] = [];
  for (let step = 0; step < 12; step += 1) {
    if (res.status === 303 || res.status === 302) {
      const next = location(res);
      if (next.startsWith(options.client.redirect_uri)) {
        const url = new URL(next);
        const params = new URLSearchParams(options.responseMode === 'fragment' ? url.hash.slice(1) : url.search);
        assert.equal(params.get('state'), state, 'state is returned to the client');
        return { params, redirect: next, verifier, pages };
      }
      res = await browser.get(next);
      continue;
    }
    const html = await res.text();
    pages.push(html);
    assert.equal(res.status, 200, `unexpected page (${res.status}): ${html.slice(0, 500)}`);
    const forms = parseForms(html);
    const login = forms.find((f) => f.action.endsWith('/login'));
    const consent = forms.find((f) => f.action.endsWith('/consent'));
    if (login) {
      res = await browser.postForm(login.action, { ...login.fields, username: options.username ?? '', password: options.password ?? '' });
    } else if (consent) {
      res = await browser.postForm(consent.action, { ...consent.fields, decision: options.decision ?? 'allow' });
    } else {
      throw new Error(`no form to continue with: ${html.slice(0, 500)}`);
    }
  }
  throw new Error('too many steps');
}

export async function tokenRequest(base: string, fields: Record<string, string>): Promise<{ status: number; body: any }> {
  const res = await fetch(`${base}/oauth2/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(fields).toString(),
  });
  return { status: res.status, body: await res.json() };
}

export async function introspect(base: string, secret: string, token: string, headers: Record<string, string> = {}) {
  const res = await fetch(`${base}/oauth2/introspect`, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      authorization: `Bearer ${secret}`,
      'x-mas-supports-device-id': '1',
      ...headers,
    },
    body: new URLSearchParams({ token, token_type_hint: 'access_token' }).toString(),
  });
  return { status: res.status, body: (await res.json()) as any };
}
