-- Password registration, e-mail verification codes, account recovery, registration tokens.

CREATE TABLE user_registration_tokens (
  id           text PRIMARY KEY,
  token_hash   text NOT NULL UNIQUE,
  usage_limit  integer,
  times_used   integer NOT NULL DEFAULT 0,
  created_at   timestamptz NOT NULL DEFAULT now(),
  last_used_at timestamptz,
  expires_at   timestamptz,
  revoked_at   timestamptz,
  CHECK (usage_limit IS NULL OR times_used <= usage_limit)
);

-- A registration in progress. The URL carries a random secret; only its hash is the key.
CREATE TABLE user_registrations (
  id                    text PRIMARY KEY,
  secret_hash           text NOT NULL UNIQUE,
  username              text NOT NULL,
  hashed_password       text NOT NULL,
  password_version      integer NOT NULL,
  email                 text,
  display_name          text,
  next                  text,
  ip_address            text,
  user_agent            text,
  registration_token_id text REFERENCES user_registration_tokens (id),
  email_verified_at     timestamptz,
  created_at            timestamptz NOT NULL DEFAULT now(),
  completed_at          timestamptz,
  abandoned_at          timestamptz,
  user_id               text REFERENCES users (id) ON DELETE SET NULL
);

-- Proving an address: a registration's, or one a signed-in user adds.
CREATE TABLE user_email_authentications (
  id              text PRIMARY KEY,
  registration_id text REFERENCES user_registrations (id) ON DELETE CASCADE,
  user_id         text REFERENCES users (id) ON DELETE CASCADE,
  email           text NOT NULL,
  created_at      timestamptz NOT NULL DEFAULT now(),
  completed_at    timestamptz
);

CREATE TABLE user_email_authentication_codes (
  id                text PRIMARY KEY,
  authentication_id text NOT NULL REFERENCES user_email_authentications (id) ON DELETE CASCADE,
  code_hash         text NOT NULL,
  created_at        timestamptz NOT NULL DEFAULT now(),
  expires_at        timestamptz NOT NULL
);
CREATE INDEX user_email_authentication_codes_auth ON user_email_authentication_codes (authentication_id);

CREATE TABLE user_recovery_tickets (
  id          text PRIMARY KEY,
  ticket_hash text NOT NULL UNIQUE,
  user_id     text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  email       text NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now(),
  expires_at  timestamptz NOT NULL,
  consumed_at timestamptz
);

-- The username must stay unique across concurrent registrations: the users table's unique
-- index decides, at the moment the account is created.
