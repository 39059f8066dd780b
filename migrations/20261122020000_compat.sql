-- Compatibility layer (legacy Matrix login), third-party identifiers beyond e-mail, shared rate
-- limits, and the consented scope kept on token rows so introspection reads a single row.

ALTER TABLE oidc_payloads ADD COLUMN scope text;

-- Identifiers a login name can be rewritten to (username_rewrite.rules), e.g. employee numbers.
CREATE TABLE user_threepids (
  id         text PRIMARY KEY,
  user_id    text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  medium     text NOT NULL,
  address    text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX user_threepids_medium_address ON user_threepids (medium, lower(address));

CREATE TABLE compat_sessions (
  id               text PRIMARY KEY,
  user_id          text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  device_id        text NOT NULL,
  is_synapse_admin boolean NOT NULL DEFAULT false,
  user_agent       text,
  created_at       timestamptz NOT NULL DEFAULT now(),
  last_active_at   timestamptz,
  finished_at      timestamptz
);
CREATE UNIQUE INDEX compat_sessions_live_device ON compat_sessions (user_id, device_id) WHERE finished_at IS NULL;

CREATE TABLE compat_access_tokens (
  id         text PRIMARY KEY,
  session_id text NOT NULL REFERENCES compat_sessions (id) ON DELETE CASCADE,
  token_hash text NOT NULL UNIQUE,
  created_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz,
  revoked_at timestamptz
);
CREATE INDEX compat_access_tokens_session ON compat_access_tokens (session_id);

CREATE TABLE compat_refresh_tokens (
  id              text PRIMARY KEY,
  session_id      text NOT NULL REFERENCES compat_sessions (id) ON DELETE CASCADE,
  token_hash      text NOT NULL UNIQUE,
  access_token_id text NOT NULL REFERENCES compat_access_tokens (id) ON DELETE CASCADE,
  created_at      timestamptz NOT NULL DEFAULT now(),
  consumed_at     timestamptz,
  revoked_at      timestamptz
);
CREATE INDEX compat_refresh_tokens_session ON compat_refresh_tokens (session_id);

-- `m.login.sso` round trips: created at the redirect, completed in the browser, exchanged once
-- for a session with `m.login.token`.
CREATE TABLE compat_sso_logins (
  id           text PRIMARY KEY,
  redirect_uri text NOT NULL,
  token_hash   text UNIQUE,
  user_id      text REFERENCES users (id) ON DELETE CASCADE,
  created_at   timestamptz NOT NULL DEFAULT now(),
  fulfilled_at timestamptz,
  exchanged_at timestamptz
);

-- Token buckets shared by every instance.
CREATE TABLE rate_limits (
  key        text PRIMARY KEY,
  tokens     double precision NOT NULL,
  updated_at timestamptz NOT NULL
);
