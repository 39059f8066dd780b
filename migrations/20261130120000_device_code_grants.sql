-- The device authorization grant (RFC 8628, MAS's oauth2_device_code_grant): a device asks for a
-- code, a signed-in browser approves or rejects it on /link, and the device exchanges its
-- device code at the token endpoint. Both codes are bearer secrets: only their hashes are kept
-- (the device code's SHA-256; the short user code's HMAC under secrets.encryption, which a
-- dictionary of 36^6 values cannot reverse without the key). `id` appears in the consent URL.
CREATE TABLE oauth2_device_code_grants (
  id               text PRIMARY KEY,
  client_id        text NOT NULL,
  scope            text NOT NULL,
  device_code_hash text NOT NULL UNIQUE,
  user_code_hash   text NOT NULL UNIQUE,
  state            text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'fulfilled', 'rejected', 'exchanged')),
  created_at       timestamptz NOT NULL,
  expires_at       timestamptz NOT NULL,
  -- The device's last poll that was not too early (slow_down is measured from it).
  last_polled_at   timestamptz,
  -- Who decided, and the oidc-provider grant (one OAuth 2.0 session) an approval made.
  user_id          text REFERENCES users (id) ON DELETE CASCADE,
  browser_session_id text REFERENCES browser_sessions (id) ON DELETE SET NULL,
  grant_id         text,
  decided_at       timestamptz,
  exchanged_at     timestamptz,
  -- What the consent page shows about the device that asked.
  user_agent       text,
  ip_address       text,
  CHECK ((state = 'pending') = (decided_at IS NULL)),
  CHECK (state NOT IN ('fulfilled', 'exchanged') OR (user_id IS NOT NULL AND grant_id IS NOT NULL))
);
CREATE INDEX oauth2_device_code_grants_expires ON oauth2_device_code_grants (expires_at);
