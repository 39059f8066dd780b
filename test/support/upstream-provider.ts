// A real second oidc-provider in the test process, playing Keycloak for Mauth's upstream login:
// discovery, authorization with its own tiny login form, code + PKCE, ID tokens carrying the
// profile and e-mail claims (as Keycloak puts them there), userinfo, end-session with
// back-channel logout. Switches let tests break it on purpose.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { exportJWK, generateKeyPair } from 'jose';
import Provider, { type ClientMetadata } from 'oidc-provider';
import { Browser, location, parseForms } from './http-client.js';
import { freePort } from './mauth-process.js';

export interface UpstreamAccount {
  sub: string;
  password: string;
  preferred_username?: string;
  email?: string;
  email_verified?: boolean;
  name?: string;
}

export interface UpstreamProviderDouble {
  /** The issuer, e.g. `http://127.0.0.1:1234` (no trailing slash, as Keycloak's realms). */
  issuer: string;
  accounts: Map<string, UpstreamAccount>;
  /** A JWKS of keys the provider does not sign with (`jwks_uri` for an "unknown key" test). */
  foreignJwksUri: string;
  /** Replace the nonce of authorization requests (the ID token then carries the wrong one). */
  tamperNonce: boolean;
  /** Answer the token endpoint with 503. */
  tokenEndpointDown: boolean;
  /** The provider's own signing key, to sign logout tokens the way it would. */
  signingKey: CryptoKey | import('jose').KeyObject;
  /** Back-channel logout requests the provider made, with the status it got. */
  backchannelLogouts: { uri: string; status: number; error?: string }[];
  stop(): Promise<void>;
}

function readBody(req: IncomingMessage): Promise<URLSearchParams> {
  return new Promise((resolve, reject) => {
    let data = '';
    req.on('data', (chunk) => (data += chunk));
    req.on('end', () => resolve(new URLSearchParams(data)));
    req.on('error', reject);
  });
}

const escape = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function loginPage(uid: string, error?: string): string {
  return `<!DOCTYPE html><html><body><h1>Keycloak (test)</h1>${error ? `<p class="error">${escape(error)}</p>` : ''}
<form method="post" action="/interaction/${uid}/login">
<input name="username" value=""><input name="password" type="password" value="">
<button type="submit">Sign in</button></form></body></html>`;
}

export async function startUpstreamProvider(options: { clients: ClientMetadata[]; accounts: UpstreamAccount[]; port?: number }): Promise<UpstreamProviderDouble> {
  const port = options.port ?? (await freePort());
  const issuer = `http://127.0.0.1:${port}`;
  const accounts = new Map(options.accounts.map((a) => [a.sub, a]));
  const signing = await generateKeyPair('RS256', { extractable: true });
  const foreign = await generateKeyPair('RS256', { extractable: true });
  const signingJwk = { ...(await exportJWK(signing.privateKey)), kid: 'upstream-key', alg: 'RS256', use: 'sig' };
  const foreignJwk = { ...(await exportJWK(foreign.publicKey)), kid: 'upstream-key', alg: 'RS256', use: 'sig' };

  const provider = new Provider(issuer, {
    clients: options.clients,
    async findAccount(_ctx, sub) {
      const account = accounts.get(sub);
      if (!account) return undefined;
      return {
        accountId: sub,
        async claims() {
          const { password: _password, ...claims } = accounts.get(sub) ?? account;
          return claims;
        },
      };
    },
    claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name', 'preferred_username'] },
    // Keycloak puts the scope's claims in the ID token too.
    conformIdTokenClaims: false,
    features: {
      devInteractions: { enabled: false },
      backchannelLogout: { enabled: true },
      rpInitiatedLogout: { enabled: true },
    },
    pkce: { required: (_ctx, client) => client.clientId.includes('pkce') },
    responseTypes: ['code'],
    interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
    cookies: { keys: ['upstream-test-cookie-key'] },
    jwks: { keys: [signingJwk as never] },
    enabledJWA: { clientAuthSigningAlgValues: ['HS256', 'HS384', 'HS512', 'RS256', 'PS256', 'ES256', 'EdDSA'] },
    // Its SSRF guard refuses loopback addresses, where Mauth runs in tests.
    fetch: ((url: string, options: RequestInit & { dispatcher?: unknown }) => {
      const { dispatcher: _dispatcher, ...rest } = options;
      return fetch(url, rest);
    }) as never,
  });

  const double: UpstreamProviderDouble = {
    issuer,
    accounts,
    foreignJwksUri: `${issuer}/foreign-jwks`,
    signingKey: signing.privateKey,
    tamperNonce: false,
    tokenEndpointDown: false,
    backchannelLogouts: [],
    stop: async () => {},
  };

  // Record back-channel logout deliveries (oidc-provider makes them with fetch).
  const events = provider as unknown as NodeJS.EventEmitter;
  events.on('backchannel.success', (_ctx: unknown, client: { backchannelLogoutUri: string }) =>
    double.backchannelLogouts.push({ uri: client.backchannelLogoutUri, status: 200 }),
  );
  events.on('backchannel.error', (_ctx: unknown, err: Error, client: { backchannelLogoutUri: string }) =>
    double.backchannelLogouts.push({ uri: client.backchannelLogoutUri, status: 0, error: String(err?.message ?? err) }),
  );

  async function interaction(req: IncomingMessage, res: ServerResponse, path: string) {
    const html = (status: number, body: string) => {
      res.writeHead(status, { 'content-type': 'text/html; charset=utf-8' });
      res.end(body);
    };
    const details = await provider.interactionDetails(req, res);
    const finish = async (accountId: string) => {
      const grant = new provider.Grant({ accountId, clientId: String(details.params.client_id) });
      grant.addOIDCScope(String(details.params.scope));
      const grantId = await grant.save();
      await provider.interactionFinished(req, res, { login: { accountId }, consent: { grantId } }, { mergeWithLastSubmission: false });
    };
    if (req.method === 'GET') {
      if (details.prompt.name === 'consent' && details.session?.accountId) return finish(details.session.accountId);
      return html(200, loginPage(details.uid));
    }
    if (req.method === 'POST' && path.endsWith('/login')) {
      const body = await readBody(req);
      const account = [...accounts.values()].find((a) => a.preferred_username === body.get('username') || a.sub === body.get('username'));
      if (!account || account.password !== body.get('password')) return html(401, loginPage(details.uid, 'Invalid username or password'));
      return finish(account.sub);
    }
    html(404, 'not found');
  }

  const callback = provider.callback();
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', issuer);
    if (url.pathname === '/foreign-jwks') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ keys: [foreignJwk] }));
      return;
    }
    if (url.pathname === '/token' && double.tokenEndpointDown) {
      res.writeHead(503, { 'content-type': 'text/plain' });
      res.end('down for maintenance');
      return;
    }
    if (url.pathname === '/auth' && double.tamperNonce && url.searchParams.has('nonce')) {
      url.searchParams.set('nonce', 'a-nonce-mauth-never-sent');
      req.url = `${url.pathname}${url.search}`;
    }
    if (url.pathname.startsWith('/interaction/')) {
      interaction(req, res, url.pathname).catch((err) => {
        res.writeHead(500);
        res.end(String(err));
      });
      return;
    }
    callback(req, res);
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  double.stop = () =>
    new Promise((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  return double;
}

/** Follows redirects (across hosts) until a page, or a redirect to `stopAt`. */
export async function follow(browser: Browser, res: Response, stopAt?: string): Promise<Response> {
  for (let i = 0; i < 20; i += 1) {
    if (res.status < 300 || res.status >= 400) return res;
    // Relative to where the browser is (the provider's own redirects are relative).
    const next = new URL(location(res), res.url).href;
    if (stopAt && next.startsWith(stopAt)) return res;
    res = await browser.get(next);
  }
  throw new Error('too many redirects');
}

/** The upstream login form: signs in as `username`; returns the next response, redirects followed up to `stopAt`. */
export async function upstreamLogin(browser: Browser, page: Response, username: string, password: string, stopAt?: string): Promise<Response> {
  const html = await page.text();
  const form = parseForms(html).find((f) => f.action.endsWith('/login'));
  if (!form) throw new Error(`not the upstream login page (${page.status}): ${html.slice(0, 300)}`);
  const action = new URL(form.action, page.url || undefined);
  return follow(browser, await browser.postForm(action.href, { ...form.fields, username, password }), stopAt);
}

/** Submits a form_post response page (the auto-posting form the provider renders) as a browser would. */
export async function submitFormPost(browser: Browser, page: Response): Promise<Response> {
  const html = await page.text();
  const [form] = parseForms(html);
  if (!form) throw new Error(`no form_post form (${page.status}): ${html.slice(0, 300)}`);
  return browser.postForm(form.action, form.fields);
}
