-- Third-party identifiers are looked up by their ASCII letters lower-cased, explicitly: the
-- database's lower() follows the collation, where lower('İ') = 'i', so a look-alike typed at the
-- login matched another account's identifier (src/storage/users.ts findByThreepid).
CREATE INDEX user_threepids_key ON user_threepids (medium, translate(address, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz'));
