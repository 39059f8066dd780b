-- What the account page shows about each session, as MAS keeps it: the user agent and the last
-- IP address a client came from, and the name the user gave the device (also set on the
-- homeserver). Browser sessions keep the address they signed in from in `ip_address`.
ALTER TABLE oauth2_sessions ADD COLUMN user_agent text;
ALTER TABLE oauth2_sessions ADD COLUMN last_active_ip text;
ALTER TABLE oauth2_sessions ADD COLUMN human_name text;

ALTER TABLE compat_sessions ADD COLUMN last_active_ip text;
ALTER TABLE compat_sessions ADD COLUMN human_name text;

ALTER TABLE browser_sessions ADD COLUMN last_active_ip text;
