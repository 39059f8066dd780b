-- The refresh grace is decided at consume time now; the pending flag is no longer used.
ALTER TABLE oidc_payloads DROP COLUMN grace_pending;
