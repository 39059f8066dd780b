// Refresh tokens for the refresh, mixed and soak benchmarks, obtained as a Matrix client obtains
// them: a public native client registered dynamically, then authorization code + PKCE through
// Mauth's HTML login and consent forms, one device (one OAuth 2.0 session) per token. Many
// sessions, so that the chains of concurrent connections never rotate the same one.
import { Browser } from '../test/support/http-client.js';
import { authorize, registerNativeClient, tokenRequest, type RegisteredClient } from '../test/support/oauth-client.js';

export const API_SCOPE = 'urn:matrix:client:api:*';

export interface RefreshSessions {
  client: RegisteredClient;
  /** One refresh token per session, unused. */
  tokens: string[];
  /** One access token per session (of the same grant as the refresh token at the same index). */
  accessTokens: string[];
}

/**
 * Registers a client and opens `count` sessions for `username`, `parallel` browsers at a time
 * (each logs in once, then only consents).
 */
export async function openRefreshSessions(
  url: string,
  user: { username: string; password: string },
  count: number,
  parallel = 4,
): Promise<RefreshSessions> {
  const client = await registerNativeClient(url);
  return { client, ...(await moreSessions(url, client, user, count, parallel)) };
}

export async function moreSessions(
  url: string,
  client: RegisteredClient,
  user: { username: string; password: string },
  count: number,
  parallel = 4,
): Promise<{ tokens: string[]; accessTokens: string[] }> {
  const tokens: string[] = [];
  const accessTokens: string[] = [];
  let started = 0;
  const worker = async (w: number) => {
    const browser = new Browser(url);
    while (started < count) {
      const i = started++;
      const device = `BENCH${w}X${i.toString(36).toUpperCase()}${Math.random().toString(36).slice(2, 8).toUpperCase()}`;
      const { params, verifier } = await authorize(browser, {
        client,
        scope: `openid ${API_SCOPE} urn:matrix:client:device:${device}`,
        username: user.username,
        password: user.password,
      });
      const code = params.get('code');
      if (!code) throw new Error(`authorization gave no code: ${params.toString()}`);
      const res = await tokenRequest(url, {
        grant_type: 'authorization_code',
        code,
        redirect_uri: client.redirect_uri,
        client_id: client.client_id,
        code_verifier: verifier,
      });
      if (res.status !== 200 || typeof res.body.refresh_token !== 'string') {
        throw new Error(`code exchange answered ${res.status}: ${JSON.stringify(res.body)}`);
      }
      tokens.push(res.body.refresh_token as string);
      accessTokens.push(res.body.access_token as string);
    }
  };
  await Promise.all(Array.from({ length: Math.min(parallel, count) }, (_, w) => worker(w)));
  return { tokens, accessTokens };
}

/** One refresh at Mauth's token endpoint: the answer's status and body. */
export async function refreshOnce(url: string, clientId: string, refreshToken: string): Promise<{ status: number; body: Record<string, unknown> }> {
  return tokenRequest(url, { grant_type: 'refresh_token', refresh_token: refreshToken, client_id: clientId });
}

/**
 * Chains left uncertain by a run (a request in flight when it ended, or a failed one) are
 * presented once more. Mauth's lost-response grace lets a client replay its last refresh token
 * once, so a chain whose answer was cut off continues; whatever still fails is dropped.
 */
export async function settleChains(url: string, clientId: string, uncertain: string[]): Promise<string[]> {
  const settled: string[] = [];
  for (const token of uncertain) {
    const res = await refreshOnce(url, clientId, token);
    if (res.status === 200 && typeof res.body.refresh_token === 'string') settled.push(res.body.refresh_token);
  }
  return settled;
}
