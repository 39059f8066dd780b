// One homeserver double, one Mauth process and one upstream OpenID provider with a single
// client, wired together: the set-up of the small upstream black-box tests.
import { randomBytes } from 'node:crypto';
import { startHomeserverDouble, type HomeserverDouble } from './homeserver-double.js';
import { Browser } from './http-client.js';
import { createMauth, freePort, type MauthInstance } from './mauth-process.js';
import { follow, startUpstreamProvider, upstreamLogin, type UpstreamAccount, type UpstreamProviderDouble } from './upstream-provider.js';

export interface UpstreamSetup {
  hs: HomeserverDouble;
  mauth: MauthInstance;
  idp: UpstreamProviderDouble;
  providerId: string;
  /** A fresh browser signs in upstream as `username` and comes back to Mauth. */
  signIn(username: string, password: string): Promise<Response>;
  stop(): Promise<void>;
}

export async function startUpstreamSetup(options: {
  serverName: string;
  providerId: string;
  accounts: UpstreamAccount[];
  /** Mauth configuration besides the provider (merged at the top level). */
  extra?: Record<string, unknown>;
  /** Called after everything is wired, before Mauth starts (e.g. to stop the homeserver). */
  beforeStart?: (setup: { hs: HomeserverDouble }) => Promise<void>;
}): Promise<UpstreamSetup> {
  const secret = randomBytes(16).toString('hex');
  const hs = await startHomeserverDouble({ secret, serverName: options.serverName });
  const port = await freePort();
  const issuer = `http://127.0.0.1:${port}`;
  const clientSecret = randomBytes(16).toString('hex');
  const mauth = await createMauth({
    homeserverUrl: hs.url,
    serverName: options.serverName,
    secret,
    extra: {
      ...options.extra,
      upstream_oauth2: {
        providers: [
          {
            id: options.providerId,
            issuer,
            client_id: 'mauth-upstream',
            client_secret: clientSecret,
            token_endpoint_auth_method: 'client_secret_post',
            scope: 'openid profile email',
            claims_imports: { localpart: { action: 'require', template: '{{ user.preferred_username }}' } },
          },
        ],
      },
    },
  });
  const idp = await startUpstreamProvider({
    port,
    clients: [
      {
        client_id: 'mauth-upstream',
        client_secret: clientSecret,
        token_endpoint_auth_method: 'client_secret_post',
        redirect_uris: [`${mauth.url}/upstream/callback/${options.providerId}`],
      },
    ],
    accounts: options.accounts,
  });
  await options.beforeStart?.({ hs });
  await mauth.start();
  return {
    hs,
    mauth,
    idp,
    providerId: options.providerId,
    async signIn(username, password) {
      const browser = new Browser(mauth.url);
      const page = await follow(browser, await browser.get(`/upstream/authorize/${options.providerId}`));
      return upstreamLogin(browser, page, username, password);
    },
    async stop() {
      await mauth.stop();
      await mauth.drop();
      await idp.stop();
      await hs.stop().catch(() => undefined); // may have been stopped by the test
    },
  };
}
