-- Directory (LDAP) login: where an account's password lives, and the directory entry a directory
-- account belongs to.

-- 'local': the newest user_passwords row; 'directory': a bind as the account's directory entry
-- (ldap config section). An account is one or the other: a local hash left from before an
-- account was linked to the directory is never checked, and a local account is never checked
-- against the directory.
ALTER TABLE users ADD COLUMN password_source text NOT NULL DEFAULT 'local'
  CHECK (password_source IN ('local', 'directory'));

CREATE TABLE directory_accounts (
  user_id         text PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
  -- The entry's value of ldap.attributes.localpart with ASCII letters lower-cased (LDAP compares
  -- uid-like attributes without case): what finds the entry again when its DN moves.
  subject         text NOT NULL UNIQUE,
  dn              text NOT NULL,
  -- The addresses the directory gave at the last login; the next login replaces them, and
  -- addresses the user added themselves stay.
  imported_emails text[] NOT NULL DEFAULT '{}',
  created_at      timestamptz NOT NULL DEFAULT now(),
  synced_at       timestamptz NOT NULL DEFAULT now()
);
