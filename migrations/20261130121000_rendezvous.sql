-- The built-in rendezvous for QR login (MSC4108 and its successor MSC4388): short-lived mailboxes
-- two devices write to in turn. In the database rather than in one process's memory (as Synapse
-- keeps them), so every Mauth instance behind the load balancer serves every session. The
-- session's URL is its only credential: only the SHA-256 of its ULID is kept.
CREATE TABLE rendezvous_sessions (
  id_hash          text PRIMARY KEY,
  protocol         text NOT NULL CHECK (protocol IN ('msc4108', 'msc4388')),
  data             bytea NOT NULL,
  -- MSC4108: the ETag (base64url SHA-256 of `data`, unquoted); MSC4388: the sequence token.
  version          text NOT NULL,
  -- MSC4388: the sequence token before the last write, so a retried write is recognised.
  previous_version text,
  created_at       timestamptz NOT NULL,
  updated_at       timestamptz NOT NULL,
  expires_at       timestamptz NOT NULL
);

-- Counting live sessions (the cap) and pruning expired ones.
CREATE INDEX rendezvous_sessions_expires_at ON rendezvous_sessions (expires_at);
