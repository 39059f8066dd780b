-- The admin API (/api/admin/v1).
--
-- Personal sessions (MAS's personal access tokens, `mpt_…`): a long-lived session acting as a
-- user, owned by the user or the OAuth 2.0 client (client_credentials) that created it. Its token
-- can be regenerated; only one token of a session is live at a time. Tokens are stored as their
-- SHA-256, never in the clear.
CREATE TABLE personal_sessions (
  id              text PRIMARY KEY,
  owner_user_id   text REFERENCES users (id) ON DELETE CASCADE,
  owner_client_id text,
  actor_user_id   text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  human_name      text NOT NULL,
  scope           text NOT NULL,
  created_at      timestamptz NOT NULL,
  revoked_at      timestamptz,
  last_active_at  timestamptz,
  CHECK ((owner_user_id IS NULL) <> (owner_client_id IS NULL))
);
CREATE INDEX personal_sessions_owner_user ON personal_sessions (owner_user_id) WHERE owner_user_id IS NOT NULL;
CREATE INDEX personal_sessions_owner_client ON personal_sessions (owner_client_id) WHERE owner_client_id IS NOT NULL;
CREATE INDEX personal_sessions_actor ON personal_sessions (actor_user_id);

CREATE TABLE personal_access_tokens (
  id          text PRIMARY KEY,
  session_id  text NOT NULL REFERENCES personal_sessions (id) ON DELETE CASCADE,
  token_hash  text NOT NULL UNIQUE,
  created_at  timestamptz NOT NULL,
  expires_at  timestamptz,
  revoked_at  timestamptz
);
CREATE UNIQUE INDEX personal_access_tokens_live ON personal_access_tokens (session_id) WHERE revoked_at IS NULL;

-- Policy data set through the admin API: every change is a new row, the latest one is merged over
-- `policy.data` from the configuration by every instance.
CREATE TABLE policy_data (
  id         text PRIMARY KEY,
  data       jsonb NOT NULL,
  created_at timestamptz NOT NULL
);

-- Registration tokens created through the admin API are shown back to the operator (as MAS
-- does): besides the hash that registration looks them up by, they are kept sealed with
-- `secrets.encryption`.
ALTER TABLE user_registration_tokens ADD COLUMN sealed_token text;
