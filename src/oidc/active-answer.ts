// An active introspection answer as the cache keeps it: the parts that depend on the moment or
// on the caller (`exp`, `expires_in`, `device_id`) are added per request by `renderActive`.
/** An active answer without what depends on the moment or the request (`exp`, `expires_in`, `device_id`). */
export interface ActiveToken {
  base: Record<string, unknown>;
  /** The token's expiry by Mauth's clock; undefined: it does not expire. */
  expiresAt: Date | undefined;
  /** Answered only when the expiry is part of the answer (not for refresh tokens). */
  omitExpiry?: boolean;
  deviceId?: string;
  /** Whose use introspection records (session activity). */
  activity?: { kind: 'oauth' | 'compat'; id: string };
  /** Invalidation keys of what the answer depends on besides the token (`user:<id>`, `grant:<id>`, …). */
  deps: string[];
}

/** The answer body at `now`, with the device only for a caller that reads it. */
export function renderActive(token: ActiveToken, now: Date, supportsDeviceId: boolean): Record<string, unknown> {
  const nowSeconds = Math.floor(now.getTime() / 1000);
  const exp = token.expiresAt && !token.omitExpiry ? Math.floor(token.expiresAt.getTime() / 1000) : undefined;
  return {
    ...token.base,
    ...(exp !== undefined ? { exp, expires_in: Math.max(0, exp - nowSeconds) } : {}),
    ...(supportsDeviceId && token.deviceId !== undefined ? { device_id: token.deviceId } : {}),
  };
}
