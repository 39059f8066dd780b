-- A password reset ends every grant of the account, codes not yet exchanged included: they are
-- found by account.
CREATE INDEX oidc_payloads_account ON oidc_payloads (account_id) WHERE account_id IS NOT NULL;
