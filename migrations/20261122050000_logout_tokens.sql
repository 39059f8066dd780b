-- Back-channel logout tokens already acted on (by the hash of their jti), so a captured token
-- cannot be replayed within its lifetime.
CREATE TABLE upstream_logout_tokens (
  jti_hash    text PRIMARY KEY,
  provider_id text NOT NULL,
  received_at timestamptz NOT NULL DEFAULT now()
);
