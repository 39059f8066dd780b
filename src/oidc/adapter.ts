// oidc-provider's storage adapter over PostgreSQL. Every model lives in `oidc_payloads`; for the
// models whose id is a bearer secret (tokens, codes, session cookies) only its SHA-256 is stored,
// and the value itself is stripped from the payload.
import { errors, type Adapter, type AdapterPayload } from 'oidc-provider';
import { hashSecret } from '../domain/tokens.js';
import { seal, unseal } from '../domain/seal.js';
import { staticOnlyViolations } from '../policy/client-registration.js';
import type { Db, Sql, Tx } from '../storage/db.js';

/** Models whose id is not a secret and is referenced elsewhere by value. */
const PLAIN_ID_MODELS = new Set(['Client', 'Grant', 'ReplayDetection']);
const TOKEN_MODELS = new Set(['AccessToken', 'RefreshToken']);
/** Marks a client secret stored sealed (JWE) rather than as given. */
const SEALED = 'sealed:';

export interface AdapterHooks {
  /** `secrets.encryption`: client secrets of registered clients are stored sealed with it. */
  encryptionSecret?: string;
  /** Runs in the transaction that deletes a grant: the OAuth 2.0 session it carried has ended. */
  grantDestroyed?(tx: Tx, grantId: string): Promise<void>;
}

interface Row {
  payload: AdapterPayload;
  consumed_at: Date | null;
}

export function storageKey(model: string, id: string): string {
  return PLAIN_ID_MODELS.has(model) ? id : hashSecret(id);
}

export function createAdapterClass(sql: Sql, hooks: AdapterHooks = {}) {
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
        stored.client_secret = `${SEALED}${await seal(hooks.encryptionSecret, stored.client_secret)}`;
      }
      const expiresAt = expiresIn ? new Date(Date.now() + expiresIn * 1000) : null;
      const userCode = payload.userCode ? hashSecret(payload.userCode) : null;
      const grantId = payload.grantId ?? null;
      // Tokens carry the scope the user consented to, read from their grant: oidc-provider's own
      // token scope lacks the device scope (see MATRIX_SCOPE_PARAM), and introspection then reads
      // one row.
      await sql`
        INSERT INTO oidc_payloads (model, id, payload, grant_id, account_id, uid, user_code, expires_at, scope)
        VALUES (${this.model}, ${this.key(id)}, ${sql.json(stored as never)}, ${grantId},
                ${payload.accountId ?? null}, ${payload.uid ?? null}, ${userCode}, ${expiresAt},
                (SELECT g.payload -> 'openid' ->> 'scope' FROM oidc_payloads g
                 WHERE ${TOKEN_MODELS.has(this.model)} AND g.model = 'Grant' AND g.id = ${grantId}))
        ON CONFLICT (model, id) DO UPDATE SET
          payload = excluded.payload, grant_id = excluded.grant_id, account_id = excluded.account_id,
          uid = excluded.uid, user_code = excluded.user_code, expires_at = excluded.expires_at,
          scope = excluded.scope`;
    }

    private revive(id: string, row: Row | undefined): AdapterPayload | undefined {
      if (!row) return undefined;
      const payload: AdapterPayload = { ...row.payload };
      payload.jti = id;
      if (row.consumed_at) payload.consumed = Math.floor(row.consumed_at.getTime() / 1000);
      return payload;
    }

    async find(id: string): Promise<AdapterPayload | undefined> {
      if (this.model === 'RefreshToken') return this.findRefreshToken(id);
      if (this.model === 'Client') return this.findClient(id);
      const [row] = await sql<Row[]>`
        SELECT payload, consumed_at FROM oidc_payloads
        WHERE model = ${this.model} AND id = ${this.key(id)}
          AND (expires_at IS NULL OR expires_at > now())`;
      return this.revive(id, row);
    }

    /**
     * A consumed refresh token may be replayed once, within REFRESH_GRACE_SECONDS, when the
     * response that carried its successor was lost: nothing issued since has been used. Reading
     * it changes nothing; `consume` re-checks and revokes the unused successors atomically,
     * after oidc-provider has checked the client. A revoked token reads as used, so presenting
     * it ends the grant (oidc-provider revokes the grant of a used refresh token).
     */
    private async findRefreshToken(id: string): Promise<AdapterPayload | undefined> {
      const [row] = await sql<(Row & { revoked_at: Date | null; graceable: boolean })[]>`
        SELECT payload, consumed_at, revoked_at, ${graceable(sql)} AS graceable
        FROM oidc_payloads t
        WHERE t.model = 'RefreshToken' AND t.id = ${this.key(id)} AND (t.expires_at IS NULL OR t.expires_at > now())`;
      if (row?.revoked_at) return this.revive(id, { ...row, consumed_at: row.consumed_at ?? row.revoked_at });
      if (row?.graceable) return this.revive(id, { ...row, consumed_at: null });
      return this.revive(id, row);
    }

    private async findClient(id: string): Promise<AdapterPayload | undefined> {
      const [row] = await sql<Row[]>`
        SELECT payload, consumed_at FROM oidc_payloads
        WHERE model = 'Client' AND id = ${id} AND (expires_at IS NULL OR expires_at > now())`;
      const payload = this.revive(id, row);
      // Registered before dynamic clients were held to the registration rules for key sets:
      // authenticating one would make Mauth fetch a URI the registrant chose.
      if (payload && staticOnlyViolations(payload).length > 0) return undefined;
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
      const [row] = await sql<(Row & { id: string })[]>`
        SELECT id, payload, consumed_at FROM oidc_payloads
        WHERE model = ${this.model} AND uid = ${uid} AND (expires_at IS NULL OR expires_at > now())`;
      // The session id is only known hashed; oidc-provider reads `jti` only to re-save, which
      // the session cookie value (not this lookup) drives.
      return row ? { ...row.payload } : undefined;
    }

    async findByUserCode(userCode: string): Promise<AdapterPayload | undefined> {
      const [row] = await sql<Row[]>`
        SELECT payload, consumed_at FROM oidc_payloads
        WHERE model = ${this.model} AND user_code = ${hashSecret(userCode)}
          AND (expires_at IS NULL OR expires_at > now())`;
      return row ? { ...row.payload, ...(row.consumed_at ? { consumed: Math.floor(row.consumed_at.getTime() / 1000) } : {}) } : undefined;
    }

    /** One atomic UPDATE: of concurrent consumers exactly one wins, the others get invalid_grant. */
    async consume(id: string): Promise<void> {
      if (this.model === 'RefreshToken') return this.consumeRefreshToken(id);
      const rows = await sql`
        UPDATE oidc_payloads SET consumed_at = clock_timestamp()
        WHERE model = ${this.model} AND id = ${this.key(id)} AND consumed_at IS NULL
        RETURNING 1`;
      if (rows.length === 0) throw new errors.InvalidGrant(`${this.model} already used`);
    }

    private async consumeRefreshToken(id: string): Promise<void> {
      const key = this.key(id);
      const refused = await sql.begin(async (tx) => {
        const [token] = await tx<{ grant_id: string }[]>`
          SELECT grant_id FROM oidc_payloads WHERE model = 'RefreshToken' AND id = ${key}`;
        if (!token) return { grantId: undefined };
        // One rotation or replay per grant at a time: the grace check and the revoking of
        // successors must see the same successors.
        await tx`SELECT pg_advisory_xact_lock(hashtextextended(${`refresh-grant:${token.grant_id}`}, 0))`;
        const [row] = await tx<{ consumed_at: Date | null; revoked_at: Date | null; grant_id: string; graceable: boolean }[]>`
          SELECT t.consumed_at, t.revoked_at, t.grant_id, ${graceable(tx)} AS graceable
          FROM oidc_payloads t WHERE t.model = 'RefreshToken' AND t.id = ${key} FOR UPDATE`;
        if (!row) return { grantId: undefined };
        if (row.revoked_at || (row.consumed_at && !row.graceable)) return { grantId: row.grant_id };
        if (row.consumed_at) {
          // The lost-response grace: the unused successors are revoked, not deleted, so that
          // whoever presents one next (the real client, if this replay is a thief's) ends the grant.
          await tx`
            UPDATE oidc_payloads SET revoked_at = clock_timestamp()
            WHERE model = 'RefreshToken' AND grant_id = ${row.grant_id}
              AND id <> ${key} AND created_at >= ${row.consumed_at} AND revoked_at IS NULL`;
        }
        // As MAS does, a refresh revokes the access token it replaces (the grant's only live one;
        // the new access token is saved after this).
        await tx`DELETE FROM oidc_payloads WHERE model = 'AccessToken' AND grant_id = ${row.grant_id}`;
        await tx`
          UPDATE oidc_payloads SET consumed_at = clock_timestamp(), grace_used = (consumed_at IS NOT NULL)
          WHERE model = 'RefreshToken' AND id = ${key}`;
        return undefined;
      });
      if (refused) {
        // A used or revoked token presented again outside the grace: the session is compromised, end it.
        if (refused.grantId) await new PostgresAdapter('Grant').destroy(refused.grantId);
        throw new errors.InvalidGrant('refresh token already used');
      }
    }

    async destroy(id: string): Promise<void> {
      if (this.model === 'Grant') {
        await sql.begin(async (tx) => {
          await tx`DELETE FROM oidc_payloads WHERE grant_id = ${id}`;
          await tx`DELETE FROM oidc_payloads WHERE model = 'Grant' AND id = ${id}`;
          await hooks.grantDestroyed?.(tx, id);
        });
        return;
      }
      await sql`DELETE FROM oidc_payloads WHERE model = ${this.model} AND id = ${this.key(id)}`;
    }

    async revokeByGrantId(grantId: string): Promise<void> {
      await sql`DELETE FROM oidc_payloads WHERE model = ${this.model} AND grant_id = ${grantId}`;
    }
  };
}

/** How long after its use a refresh token can still be replayed when the answer was lost. */
export const REFRESH_GRACE_SECONDS = 300;

/**
 * SQL (over the row aliased `t`) telling whether a consumed refresh token may be replayed:
 * within the grace period, once, only while nothing issued after it was used, and only once its
 * successor exists (a replay racing the rotation still in flight is not a lost response; granting
 * it would leave two live chains that never meet).
 */
function graceable(db: Db) {
  return db`(
    t.consumed_at IS NOT NULL AND NOT t.grace_used AND t.revoked_at IS NULL
    AND t.consumed_at > now() - make_interval(secs => ${REFRESH_GRACE_SECONDS})
    AND NOT EXISTS (SELECT 1 FROM oidc_payloads a WHERE a.model = 'AccessToken' AND a.grant_id = t.grant_id
                    AND a.created_at >= t.consumed_at AND a.used_at IS NOT NULL)
    AND NOT EXISTS (SELECT 1 FROM oidc_payloads r WHERE r.model = 'RefreshToken' AND r.grant_id = t.grant_id
                    AND r.id <> t.id AND r.consumed_at > t.consumed_at)
    AND EXISTS (SELECT 1 FROM oidc_payloads r WHERE r.model = 'RefreshToken' AND r.grant_id = t.grant_id
                AND r.id <> t.id AND r.created_at >= t.consumed_at)
  )`;
}

/** Marks an access token as used by a resource server (first use only; refresh grace needs it). */
export async function markAccessTokenUsed(db: Db, tokenKey: string): Promise<void> {
  await db`UPDATE oidc_payloads SET used_at = now() WHERE model = 'AccessToken' AND id = ${tokenKey} AND used_at IS NULL`;
}
