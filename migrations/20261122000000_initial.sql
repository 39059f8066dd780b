-- Initial schema: users and their credentials, browser sessions, oidc-provider's storage,
-- OAuth 2.0 sessions (one per device), the job queue.

CREATE TABLE users (
  id                text PRIMARY KEY,
  -- Stored lower-case: usernames are matched case-insensitively everywhere.
  username          text NOT NULL UNIQUE CHECK (username = lower(username)),
  display_name      text,
  can_request_admin boolean NOT NULL DEFAULT false,
  locked_at         timestamptz,
  deactivated_at    timestamptz,
  created_at        timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE user_emails (
  id          text PRIMARY KEY,
  user_id     text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  email       text NOT NULL,
  verified_at timestamptz,
  created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX user_emails_user_email ON user_emails (user_id, lower(email));
CREATE INDEX user_emails_email ON user_emails (lower(email));

CREATE TABLE user_passwords (
  id              text PRIMARY KEY,
  user_id         text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  hashed_password text NOT NULL,
  version         integer NOT NULL,
  created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX user_passwords_user ON user_passwords (user_id, created_at DESC);

-- A logged-in browser. The cookie carries a random secret; only its SHA-256 is stored.
CREATE TABLE browser_sessions (
  id                    text PRIMARY KEY,
  secret_hash           text NOT NULL UNIQUE,
  user_id               text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  user_agent            text,
  ip_address            text,
  created_at            timestamptz NOT NULL DEFAULT now(),
  last_authenticated_at timestamptz NOT NULL DEFAULT now(),
  finished_at           timestamptz
);
CREATE INDEX browser_sessions_user ON browser_sessions (user_id) WHERE finished_at IS NULL;

-- oidc-provider's models (clients, grants, codes, tokens, interactions...). For every model
-- whose id is a bearer secret, `id` holds the SHA-256 of the value, never the value.
CREATE TABLE oidc_payloads (
  model         text NOT NULL,
  id            text NOT NULL,
  payload       jsonb NOT NULL,
  grant_id      text,
  account_id    text,
  uid           text,
  user_code     text,
  expires_at    timestamptz,
  consumed_at   timestamptz,
  -- First time an access token was presented by a resource server (refresh grace needs it).
  used_at       timestamptz,
  -- A consumed refresh token may be replayed once while its successor was never used.
  grace_used    boolean NOT NULL DEFAULT false,
  grace_pending boolean NOT NULL DEFAULT false,
  created_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
  PRIMARY KEY (model, id)
);
CREATE INDEX oidc_payloads_grant ON oidc_payloads (grant_id) WHERE grant_id IS NOT NULL;
CREATE INDEX oidc_payloads_uid ON oidc_payloads (uid) WHERE uid IS NOT NULL;
CREATE INDEX oidc_payloads_user_code ON oidc_payloads (user_code) WHERE user_code IS NOT NULL;
CREATE INDEX oidc_payloads_expires ON oidc_payloads (expires_at) WHERE expires_at IS NOT NULL;

-- One OAuth 2.0 session per grant: the device a client holds on the homeserver.
CREATE TABLE oauth2_sessions (
  id             text PRIMARY KEY,
  grant_id       text NOT NULL UNIQUE,
  user_id        text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  client_id      text NOT NULL,
  device_id      text,
  scope          text NOT NULL,
  created_at     timestamptz NOT NULL DEFAULT now(),
  last_active_at timestamptz,
  finished_at    timestamptz
);
CREATE INDEX oauth2_sessions_user ON oauth2_sessions (user_id) WHERE finished_at IS NULL;

-- Background jobs, written in the same transaction as the change that causes them.
CREATE TABLE jobs (
  id           text PRIMARY KEY,
  kind         text NOT NULL,
  payload      jsonb NOT NULL,
  status       text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'running', 'done', 'failed')),
  attempts     integer NOT NULL DEFAULT 0,
  max_attempts integer NOT NULL DEFAULT 10,
  run_at       timestamptz NOT NULL DEFAULT now(),
  locked_at    timestamptz,
  locked_by    text,
  last_error   text,
  created_at   timestamptz NOT NULL DEFAULT now(),
  finished_at  timestamptz
);
CREATE INDEX jobs_ready ON jobs (run_at) WHERE status = 'pending';
