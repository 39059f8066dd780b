-- Refresh tokens that a grace replay replaced are kept, revoked, instead of deleted: presenting
-- one then ends the whole grant (a deleted one only looked unknown, so a thief who replayed a
-- stolen token kept the session unnoticed).
ALTER TABLE oidc_payloads ADD COLUMN revoked_at timestamptz;
