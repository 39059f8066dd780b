-- E-mail addresses are compared by an explicit key (src/domain/email-address.ts): the stored
-- address with ASCII A-Z lower-cased and nothing else. The database's lower() follows the
-- collation, where lower('İ') = 'i', so a look-alike address typed by anyone matched a real one.
-- New addresses are stored in canonical form (domain lower-case ASCII, IDNA A-labels), so the
-- key computed here equals the one computed in JavaScript from what a user types.

-- Plain ASCII addresses written before: their domain lower-cased, as it is stored now. (SQL cannot
-- apply IDNA; a Unicode domain stays as it was and simply matches no typed address.)
UPDATE user_emails
SET email = split_part(email, '@', 1) || '@' || translate(split_part(email, '@', 2), 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz')
WHERE email ~ '^[!-~]+$' AND email ~ '^[^@]+@[^@]+$' AND split_part(email, '@', 2) ~ '[A-Z]';

-- Strings that are no single address (a list, a display name, spaces) were never proven to
-- belong to the user alone: a code mailed to "a@x,b@y" reached both. They stay listed, unverified.
UPDATE user_emails
SET verified_at = NULL
WHERE verified_at IS NOT NULL
  AND (email ~ '[,;<>()"]' OR email ~ '[[:space:][:cntrl:]]' OR strpos(email, '[') > 0 OR strpos(email, ']') > 0
       OR strpos(email, ':') > 0 OR strpos(email, '\') > 0 OR email !~ '^[^@]+@[^@]+$');

ALTER TABLE user_emails
  ADD COLUMN email_key text GENERATED ALWAYS AS (translate(email, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz')) STORED;

DROP INDEX user_emails_user_email;
DROP INDEX user_emails_email;
CREATE UNIQUE INDEX user_emails_user_key ON user_emails (user_id, email_key);
CREATE INDEX user_emails_key ON user_emails (email_key);
