// The refresh_token grant at the floor: oidc-provider runs the grant as always (client
// authentication, the checks, rotation, the tokens it issues), and every statement it causes
// runs in one transaction of the request:
//
//   1. one read of the refresh token with its grant, client, account (and address) and session,
//      which also takes the grant's refresh lock (storage `findForRefresh`);
//   2. one atomic consume, which also revokes the access token the new one replaces (and, for a
//      grace replay, the unused successors) (`consumeLockedRefreshToken`);
//   3. and 4. the new refresh and access tokens;
//   5. only when the client's address or User-Agent changed: the session's record of them.
//
// The adapter (adapter.ts) and `findAccount` (account.ts) ask `refreshInProgress()` whether the
// request they serve is a refresh, and then answer from the read and write in its transaction.
// It commits once oidc-provider has answered, before the response leaves and before the token
// endpoint's session hook (token-hooks.ts) runs, so no homeserver call happens inside it; it
// also commits a refusal (a reused refresh token ends its grant), and rolls back on a server
// error, leaving the token unused for the client's retry. Once committed, this process's
// introspection cache drops the grant's answers at once (`committed`): the database's
// notification of the same change may come back only after the client's next introspection.
import Provider, { type KoaContextWithOIDC } from 'oidc-provider';
import type { AppContext } from '../context.js';
import { hashSecret } from '../domain/tokens.js';
import type { Tx } from '../storage/db.js';
import * as sessions from '../storage/oauth2-sessions.js';
import * as refreshTokens from '../storage/refresh-tokens.js';
import { answerTokenStepFailure } from './errors.js';

type Next = () => Promise<void>;

/** Thrown into the transaction's callback to roll it back (never escapes this module). */
const ROLLBACK = Symbol('rollback');

/** Who asked for a token: the address Express worked out behind `http.trusted_proxies`, and the User-Agent. */
export function clientSeen(ctx: KoaContextWithOIDC): sessions.ClientSeen {
  const req = ctx.req as typeof ctx.req & { ip?: string };
  return { ip: req.ip, userAgent: ctx.get('user-agent').slice(0, 512) || undefined };
}

export class RefreshRequest {
  #tx: Promise<Tx> | undefined;
  #settle: ((commit: boolean) => void) | undefined;
  #done: Promise<unknown> | undefined;
  #read: Promise<refreshTokens.RefreshRead | undefined> | undefined;
  #sessionRecorded = false;
  /** The SHA-256 of the refresh token presented (the adapter's key for it). */
  readonly key: string;

  constructor(
    private readonly app: AppContext,
    private readonly ctx: KoaContextWithOIDC,
    refreshToken: string,
    private readonly settledSeconds: number | undefined,
  ) {
    this.key = hashSecret(refreshToken);
  }

  /** The request's transaction, begun on first use. */
  transaction(): Promise<Tx> {
    this.#tx ??= new Promise<Tx>((resolve, reject) => {
      const settled = new Promise<boolean>((r) => (this.#settle = r));
      this.#done = this.app.sql.begin(async (tx) => {
        resolve(tx);
        if (!(await settled)) throw ROLLBACK;
      });
      // BEGIN failed (the database is down): whoever waits for the transaction gets the error.
      this.#done.catch(reject);
    });
    return this.#tx;
  }

  /** The one read (undefined: no such live refresh token). */
  read(): Promise<refreshTokens.RefreshRead | undefined> {
    this.#read ??= this.transaction().then((tx) => refreshTokens.findForRefresh(tx, this.key, this.app.clock.now(), this.settledSeconds));
    return this.#read;
  }

  /** Whether this request recorded the client on the session itself (token-hooks.ts then leaves it). */
  get sessionRecorded(): boolean {
    return this.#sessionRecorded;
  }

  /**
   * Ends the transaction: committed when oidc-provider answered below 500 (a refusal included),
   * rolled back otherwise. Throws only when committing failed (the answer's tokens do not exist).
   * Returns the grant whose refresh token was read, once committed.
   */
  async finish(commit: boolean): Promise<string | undefined> {
    if (!this.#done) return undefined;
    if (!commit) return this.#rollBack();
    try {
      await this.#recordSession();
    } catch (err) {
      await this.#rollBack();
      throw err;
    }
    this.#settle!(true);
    await this.#done;
    return (await this.#read?.catch(() => undefined))?.grant_id;
  }

  async #rollBack(): Promise<undefined> {
    this.#settle!(false);
    // Whatever failed in it was answered already (a statement's error reached oidc-provider).
    await this.#done!.catch(() => {});
    return undefined;
  }

  /** A refresh is a token request of the session's client: what it now sends, when it changed. */
  async #recordSession(): Promise<void> {
    if (this.ctx.status !== 200) return;
    const row = await this.#read;
    if (!row?.session_id) return;
    const seen = clientSeen(this.ctx);
    const changed = (seen.ip !== undefined && seen.ip !== row.session_ip) || (seen.userAgent !== undefined && seen.userAgent !== row.session_user_agent);
    if (changed) await sessions.recordSeen(await this.transaction(), row.grant_id, seen);
    this.#sessionRecorded = true;
  }
}

/** A token request, which turns out to be a refresh once oidc-provider has parsed its parameters. */
class TokenRequest {
  #refresh: RefreshRequest | undefined;

  constructor(
    private readonly app: AppContext,
    private readonly ctx: KoaContextWithOIDC,
    private readonly settledSeconds: number | undefined,
  ) {}

  /** The refresh, made when first asked for once the parameters say it is one. */
  get refresh(): RefreshRequest | undefined {
    if (this.#refresh) return this.#refresh;
    const params = this.ctx.oidc?.params;
    if (params?.grant_type !== 'refresh_token' || typeof params.refresh_token !== 'string' || !params.refresh_token) return undefined;
    this.#refresh = new RefreshRequest(this.app, this.ctx, params.refresh_token, this.settledSeconds);
    return this.#refresh;
  }

  /** The refresh if one was made (never makes one). */
  get made(): RefreshRequest | undefined {
    return this.#refresh;
  }
}

const tokenRequests = new WeakMap<object, TokenRequest>();

/** The refresh the current oidc-provider request is, if it is one (for the adapter and findAccount). */
export function refreshInProgress(): RefreshRequest | undefined {
  const ctx = Provider.ctx;
  return ctx ? tokenRequests.get(ctx)?.refresh : undefined;
}

/** Whether the token request in `ctx` was a refresh that recorded its session itself. */
export function sessionRecordedByRefresh(ctx: KoaContextWithOIDC): boolean {
  return tokenRequests.get(ctx)?.made?.sessionRecorded ?? false;
}

/**
 * A refresh answers without an ID token, as MAS's does (its refresh_token grant returns
 * `access_token`, `expires_in`, `refresh_token` and `scope`; ID tokens come only from the
 * authorization code and device code grants), and it saves an RSA signature per refresh.
 * oidc-provider has no setting for it: its refresh grant (lib/actions/grants/refresh_token.js)
 * calls `issueIdToken` whenever the scope has `openid`, and leaves the member out of the answer
 * when that gives `undefined`. So this provider's `IdToken#issue` gives `undefined` for an ID
 * token (`use: 'idtoken'`) issued within a refresh request (one `refreshTransactions` below
 * recognised), and signs as before everywhere else: the code and device code grants, logout
 * tokens, signed userinfo.
 */
export function noIdTokenOnRefresh(provider: Provider): void {
  type Issue = InstanceType<Provider['IdToken']>['issue'];
  const proto = provider.IdToken.prototype as { issue: Issue };
  const issue = proto.issue;
  proto.issue = function issueUnlessRefreshing(this: InstanceType<Provider['IdToken']>, options) {
    if (options?.use === 'idtoken' && this.ctx && tokenRequests.get(this.ctx)?.refresh) return Promise.resolve(undefined as unknown as string);
    return issue.call(this, options);
  };
}

/**
 * Koa middleware for the provider (`provider.use`), registered after the token endpoint's
 * session hook so that it runs inside it.
 */
export function refreshTransactions(
  app: AppContext,
  options: { tokenRoute: string; rotationSettledSeconds?: number; committed?: (grantId: string) => void },
) {
  return async function inOneTransaction(ctx: KoaContextWithOIDC, next: Next): Promise<void> {
    if (ctx.method !== 'POST' || ctx.path !== options.tokenRoute) return next();
    const tokenRequest = new TokenRequest(app, ctx, options.rotationSettledSeconds);
    tokenRequests.set(ctx, tokenRequest);
    try {
      await next();
    } catch (err) {
      await tokenRequest.made?.finish(false);
      throw err;
    }
    const request = tokenRequest.made;
    if (!request) return;
    let grantId: string | undefined;
    try {
      grantId = await request.finish(ctx.status < 500);
    } catch (err) {
      // The commit failed: no token of this answer exists, say so instead.
      answerTokenStepFailure(app, ctx, err, 'the refresh could not be committed');
      return;
    }
    if (grantId) options.committed?.(grantId);
  };
}
