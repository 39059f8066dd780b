-- Upstream OAuth 2.0 / OpenID Connect providers (`upstream_oauth2.providers`, written by
-- `config sync` and at server start), the links between their subjects and local users, and
-- the authorization round trips through them.

CREATE TABLE upstream_oauth_providers (
  id                      text PRIMARY KEY,
  issuer                  text,
  human_name              text,
  brand_name              text,
  synapse_idp_id          text,
  -- The provider block as configured, secrets removed.
  config                  jsonb NOT NULL,
  -- JWE (dir, A256GCM) under `secrets.encryption`; never the plain value.
  encrypted_client_secret text,
  encrypted_private_key   text,
  ui_order                integer NOT NULL DEFAULT 0,
  created_at              timestamptz NOT NULL DEFAULT now(),
  updated_at              timestamptz NOT NULL DEFAULT now(),
  -- Set when the provider is disabled or no longer configured (kept until `config sync --prune`).
  disabled_at             timestamptz
);

CREATE TABLE upstream_oauth_links (
  id                 text PRIMARY KEY,
  provider_id        text NOT NULL REFERENCES upstream_oauth_providers (id) ON DELETE CASCADE,
  subject            text NOT NULL,
  user_id            text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  human_account_name text,
  -- The address a `force`d e-mail import last set, so a changed claim replaces it.
  imported_email     text,
  created_at         timestamptz NOT NULL DEFAULT now(),
  UNIQUE (provider_id, subject)
);
CREATE INDEX upstream_oauth_links_user ON upstream_oauth_links (user_id);

-- One authorization round trip. The state, nonce and PKCE verifier live only in the browser's
-- signed cookie; the row holds the hash of the state, then what the provider said about the user.
CREATE TABLE upstream_oauth_sessions (
  id                        text PRIMARY KEY,
  provider_id               text NOT NULL REFERENCES upstream_oauth_providers (id) ON DELETE CASCADE,
  state_hash                text NOT NULL UNIQUE,
  next_path                 text NOT NULL,
  subject                   text,
  -- `sid` of the ID token, for back-channel logout.
  upstream_sid              text,
  id_token_claims           jsonb,
  userinfo_claims           jsonb,
  extra_callback_parameters jsonb,
  -- The registration form's answers while an e-mail address is being verified.
  pending_registration      jsonb,
  -- The imported address, once proven by a mailed code (see src/upstream/email-verification.ts).
  verified_email            text,
  link_id                   text REFERENCES upstream_oauth_links (id) ON DELETE SET NULL,
  browser_session_id        text REFERENCES browser_sessions (id) ON DELETE SET NULL,
  created_at                timestamptz NOT NULL DEFAULT now(),
  -- The callback arrived (once: a replayed callback finds this set).
  completed_at              timestamptz,
  -- The browser was signed in, or an account created, from it (once).
  consumed_at               timestamptz
);
CREATE INDEX upstream_oauth_sessions_sub ON upstream_oauth_sessions (provider_id, (id_token_claims ->> 'sub')) WHERE consumed_at IS NOT NULL;
CREATE INDEX upstream_oauth_sessions_sid ON upstream_oauth_sessions (provider_id, upstream_sid) WHERE upstream_sid IS NOT NULL;
