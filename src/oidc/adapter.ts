// oidc-provider's storage adapter over PostgreSQL (storage/oidc-payloads.ts). Every model lives
// in `oidc_payloads`; for the models whose id is a bearer secret (tokens, codes, session cookies)
// only its SHA-256 is stored, and the value itself is stripped from the payload.
//
// Two clocks meet here. oidc-provider computes its own expiries (`exp`, the `expiresIn` it hands
// to `upsert`) from Date.now, which cannot be injected. Mauth's own decisions use the injected
// clock: a row expires at our clock's now + `expiresIn`, lookups compare with our clock, and so
// does introspection. Moving the injected clock forward therefore expires what Mauth serves;
// oidc-provider's checks of `exp` (on codes and tokens it reads back) stay on real time.
import { errors, type Adapter, type AdapterPayload } from 'oidc-provider';
import { secondsAfter, type Clock } from '../clock.js';
import { hashSecret } from '../domain/tokens.js';
import { unseal } from '../domain/seal.js';
import { SEALED, sealClientSecret } from './stored-payloads.js';
import { staticOnlyViolations } from '../policy/client-registration.js';
import type { Db, Sql, Tx } from '../storage/db.js';
import * as payloads from '../storage/oidc-payloads.js';
import * as refreshTokens from '../storage/refresh-tokens.js';
import type { RefreshRequest } from './refresh.js';

/** Models whose id is not a secret and is referenced elsewhere by value. */
const PLAIN_ID_MODELS = new Set(['Client', 'Grant', 'ReplayDetection']);
const TOKEN_MODELS = new Set(['AccessToken', 'RefreshToken']);

export interface AdapterHooks {
  /** `secrets.encryption`: client secrets of registered clients are stored sealed with it. */
  encryptionSecret?: string;
  /** Runs in the transaction that deletes a grant: the OAuth 2.0 session it carried has ended. */
  grantDestroyed?(tx: Tx, grantId: string): Promise<void>;
  /**
   * Seconds after which a refresh rotation is over even if it saved no successor (the request
   * deadline: its answer is lost by then). Default: storage's ROTATION_SETTLED_SECONDS.
   */
  rotationSettledSeconds?: number;
  /** Grant types taken out of service: dropped from stored clients, which would not load with them. */
  withdrawnGrantTypes?: readonly string[];
  /**
   * The refresh the current request is, if it is one (refresh.ts): its one read answers what it
   * holds, and every statement runs in its transaction.
   */
  refreshInProgress?(): RefreshRequest | undefined;
}

function storageKey(model: string, id: string): string {
  return PLAIN_ID_MODELS.has(model) ? id : hashSecret(id);
}

/**
 * A consumed refresh token may be replayed once, within REFRESH_GRACE_SECONDS, when the
 * response that carried its successor was lost: it then reads as unused, and consuming it
 * re-checks under the grant's lock. A revoked token reads as used, so presenting it ends the
 * grant (oidc-provider revokes the grant of a used refresh token).
 */
function refreshTokenPayload(id: string, row: refreshTokens.RefreshTokenRow): AdapterPayload | undefined {
  if (row.revoked_at) return revive(id, { ...row, consumed_at: row.consumed_at ?? row.revoked_at });
  if (row.graceable) return revive(id, { ...row, consumed_at: null });
  return revive(id, row);
}

function revive(id: string, row: payloads.PayloadRow | undefined): AdapterPayload | undefined {
  if (!row) return undefined;
  const payload = { ...row.payload } as AdapterPayload;
  payload.jti = id;
  if (row.consumed_at) payload.consumed = Math.floor(row.consumed_at.getTime() / 1000);
  return payload;
}

export function createAdapterClass(sql: Sql, clock: Clock, hooks: AdapterHooks = {}) {
  return class PostgresAdapter implements Adapter {
    constructor(readonly model: string) {}

    private key(id: string): string {
      return storageKey(this.model, id);
    }

    async upsert(id: string, payload: AdapterPayload, expiresIn: number): Promise<void> {
      const { jti: _jti, ...stored } = payload;
      if (this.model === 'Interaction' && stored.session) {
        // oidc-provider copies the session cookie's value (the session id) into `session.cookie`
        // and never reads it back; like every bearer secret, it is not kept in the clear.
        const { cookie: _cookie, ...session } = stored.session as Record<string, unknown>;
        stored.session = session as AdapterPayload['session'];
      }
      if (this.model === 'Client' && typeof stored.client_secret === 'string' && hooks.encryptionSecret) {
        stored.client_secret = await sealClientSecret(hooks.encryptionSecret, stored.client_secret);
      }
      // Tokens carry the scope the user consented to, read from their grant: oidc-provider's own
      // token scope lacks the device scope (see MATRIX_SCOPE_PARAM), and introspection then reads
      // one row. A refresh read its grant already.
      const refresh = hooks.refreshInProgress?.();
      const read = refresh && TOKEN_MODELS.has(this.model) ? await refresh.read() : undefined;
      const grantScope = read?.grant && read.grant_id === payload.grantId ? read.grant_scope : undefined;
      await payloads.upsert(refresh ? await refresh.transaction() : sql, {
        model: this.model,
        key: this.key(id),
        payload: stored,
        grantId: payload.grantId ?? null,
        accountId: payload.accountId ?? null,
        uid: payload.uid ?? null,
        userCodeHash: payload.userCode ? hashSecret(payload.userCode) : null,
        expiresAt: expiresIn ? secondsAfter(clock.now(), expiresIn) : null,
        scopeFromGrant: TOKEN_MODELS.has(this.model),
        grantScope,
      });
    }

    /** Where statements go: the refresh's transaction during one, the pool otherwise. */
    private async db(): Promise<Db> {
      const refresh = hooks.refreshInProgress?.();
      return refresh ? refresh.transaction() : sql;
    }

    async find(id: string): Promise<AdapterPayload | undefined> {
      const fromRefresh = await this.findInRefresh(id);
      if (fromRefresh) return fromRefresh.payload;
      if (this.model === 'RefreshToken') return this.findRefreshToken(id);
      if (this.model === 'Client') return this.findClient(id);
      return revive(id, await payloads.find(await this.db(), this.model, this.key(id), clock.now()));
    }

    /** The answer of a refresh's one read, when it holds what is asked for (`payload` may be undefined: not found). */
    private async findInRefresh(id: string): Promise<{ payload: AdapterPayload | undefined } | undefined> {
      const refresh = hooks.refreshInProgress?.();
      if (!refresh || !['RefreshToken', 'Grant', 'Client'].includes(this.model)) return undefined;
      const read = await refresh.read();
      if (this.model === 'RefreshToken' && this.key(id) === refresh.key) return { payload: read && refreshTokenPayload(id, read) };
      if (!read) return undefined;
      if (this.model === 'Grant' && id === read.grant_id) return { payload: revive(id, read.grant ?? undefined) };
      if (this.model === 'Client' && id === read.token_client_id) return { payload: await this.clientPayload(id, read.client ?? undefined) };
      return undefined;
    }

    /**
     * Reading a refresh token changes nothing (see refreshTokenPayload); `consume` re-checks the
     * grace and revokes the unused successors atomically, after oidc-provider checked the client.
     */
    private async findRefreshToken(id: string): Promise<AdapterPayload | undefined> {
      const row = await refreshTokens.findRefreshToken(await this.db(), this.key(id), clock.now(), hooks.rotationSettledSeconds);
      return row && refreshTokenPayload(id, row);
    }

    private async findClient(id: string): Promise<AdapterPayload | undefined> {
      return this.clientPayload(id, await payloads.find(await this.db(), 'Client', id, clock.now()));
    }

    private async clientPayload(id: string, row: payloads.PayloadRow | undefined): Promise<AdapterPayload | undefined> {
      const payload = revive(id, row);
      // Registered before dynamic clients were held to the registration rules for key sets:
      // authenticating one would make Mauth fetch a URI the registrant chose.
      if (payload && staticOnlyViolations(payload).length > 0) return undefined;
      const withdrawn = hooks.withdrawnGrantTypes ?? [];
      if (payload && withdrawn.length > 0 && Array.isArray(payload.grant_types)) {
        payload.grant_types = payload.grant_types.filter((g: unknown) => typeof g !== 'string' || !withdrawn.includes(g));
      }
      const secret = payload?.client_secret;
      if (payload && typeof secret === 'string' && secret.startsWith(SEALED) && hooks.encryptionSecret) {
        try {
          payload.client_secret = await unseal(hooks.encryptionSecret, secret.slice(SEALED.length));
        } catch {
          // Sealed under another secrets.encryption: the client cannot authenticate any more.
          return undefined;
        }
      }
      return payload;
    }

    async findByUid(uid: string): Promise<AdapterPayload | undefined> {
      const row = await payloads.findByUid(await this.db(), this.model, uid, clock.now());
      // The session id is only known hashed; oidc-provider reads `jti` only to re-save, which
      // the session cookie value (not this lookup) drives.
      return row ? ({ ...row.payload } as AdapterPayload) : undefined;
    }

    async findByUserCode(userCode: string): Promise<AdapterPayload | undefined> {
      const row = await payloads.findByUserCode(await this.db(), this.model, hashSecret(userCode), clock.now());
      return row
        ? ({ ...row.payload, ...(row.consumed_at ? { consumed: Math.floor(row.consumed_at.getTime() / 1000) } : {}) } as AdapterPayload)
        : undefined;
    }

    /** One atomic UPDATE: of concurrent consumers exactly one wins, the others get invalid_grant. */
    async consume(id: string): Promise<void> {
      if (this.model === 'RefreshToken') return this.consumeRefreshToken(id);
      if (!(await payloads.consume(await this.db(), this.model, this.key(id)))) throw new errors.InvalidGrant(`${this.model} already used`);
    }

    private async consumeRefreshToken(id: string): Promise<void> {
      const refused = await this.consumeRefreshTokenOnce(id);
      if (refused) {
        // A used or revoked token presented again outside the grace: the session is compromised, end it.
        if (refused.refusedGrantId) await new PostgresAdapter('Grant').destroy(refused.refusedGrantId);
        throw new errors.InvalidGrant('refresh token already used');
      }
    }

    private async consumeRefreshTokenOnce(id: string): Promise<refreshTokens.RefusedRefresh | undefined> {
      const key = this.key(id);
      const settled = hooks.rotationSettledSeconds;
      const refresh = hooks.refreshInProgress?.();
      if (!refresh) return refreshTokens.consumeRefreshToken(sql, key, settled);
      // A refresh holds the grant's lock since its read, when it read this token.
      const tx = await refresh.transaction();
      if (key === refresh.key && (await refresh.read())) return refreshTokens.consumeLockedRefreshToken(tx, key, settled);
      return refreshTokens.consumeRefreshTokenWithin(tx, key, settled);
    }

    async destroy(id: string): Promise<void> {
      if (this.model === 'Grant') {
        const ended = hooks.grantDestroyed && ((tx: Tx) => hooks.grantDestroyed!(tx, id));
        const refresh = hooks.refreshInProgress?.();
        if (refresh) return payloads.destroyGrantWithin(await refresh.transaction(), id, ended);
        return payloads.destroyGrant(sql, id, ended);
      }
      await payloads.destroy(await this.db(), this.model, this.key(id));
    }

    async revokeByGrantId(grantId: string): Promise<void> {
      await payloads.revokeByGrantId(await this.db(), this.model, grantId);
    }
  };
}
