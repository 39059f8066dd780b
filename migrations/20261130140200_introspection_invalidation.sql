-- Every instance caches introspection answers for a few seconds (src/oidc/introspection-cache.ts).
-- Each change that can make an access token inactive publishes an invalidation on the channel
-- `mauth_introspection`, from a trigger, so in the transaction of the change whatever code path
-- makes it: PostgreSQL delivers it to every listening instance when (and only if) the change
-- commits. Payloads name token hashes and row ids, never a secret:
--   token:<hash>   one access token (OAuth 2.0, compatibility or personal)
--   grant:<id>     every token of an OAuth 2.0 grant
--   user:<id>      every token a user holds or acts through
--   compat:<id>    every token of a compatibility session
--   personal:<id>  every token of a personal session
-- The WHEN clauses keep the hot writes free of any call: marking an access token used, session
-- activity, inserting tokens and consuming refresh tokens (only access tokens are cached) fire
-- nothing. Rows deleted long after they expired (the hourly pruning) are in no cache and notify
-- nothing either.

-- One function per column the key is read from; the argument is the key's kind.
CREATE FUNCTION mauth_notify_introspection_id() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('mauth_introspection', TG_ARGV[0] || ':' || OLD.id);
  RETURN NULL;
END
$$;
CREATE FUNCTION mauth_notify_introspection_token_hash() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('mauth_introspection', 'token:' || OLD.token_hash);
  RETURN NULL;
END
$$;
CREATE FUNCTION mauth_notify_introspection_grant_id() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('mauth_introspection', 'grant:' || OLD.grant_id);
  RETURN NULL;
END
$$;
CREATE FUNCTION mauth_notify_introspection_user_id() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    PERFORM pg_notify('mauth_introspection', 'user:' || NEW.user_id);
  ELSE
    PERFORM pg_notify('mauth_introspection', 'user:' || OLD.user_id);
  END IF;
  RETURN NULL;
END
$$;

-- oidc-provider's access tokens and grants.
CREATE TRIGGER oidc_payloads_access_token_changed AFTER UPDATE ON oidc_payloads FOR EACH ROW
  WHEN (OLD.model = 'AccessToken' AND (
    OLD.consumed_at IS DISTINCT FROM NEW.consumed_at OR OLD.revoked_at IS DISTINCT FROM NEW.revoked_at
    OR OLD.expires_at IS DISTINCT FROM NEW.expires_at OR OLD.scope IS DISTINCT FROM NEW.scope
    OR OLD.account_id IS DISTINCT FROM NEW.account_id OR OLD.grant_id IS DISTINCT FROM NEW.grant_id
    OR OLD.id <> NEW.id OR OLD.model <> NEW.model OR OLD.payload <> NEW.payload))
  EXECUTE FUNCTION mauth_notify_introspection_id('token');
CREATE TRIGGER oidc_payloads_access_token_gone AFTER DELETE ON oidc_payloads FOR EACH ROW
  WHEN (OLD.model = 'AccessToken' AND (OLD.expires_at IS NULL OR OLD.expires_at > now() - interval '1 hour'))
  EXECUTE FUNCTION mauth_notify_introspection_id('token');
CREATE TRIGGER oidc_payloads_grant_gone AFTER DELETE ON oidc_payloads FOR EACH ROW
  WHEN (OLD.model = 'Grant')
  EXECUTE FUNCTION mauth_notify_introspection_id('grant');

-- An OAuth 2.0 session ends by destroying its grant (which the rows above announce); its own
-- end is announced too, for any path that finishes the session first.
CREATE TRIGGER oauth2_sessions_finished AFTER UPDATE ON oauth2_sessions FOR EACH ROW
  WHEN (OLD.finished_at IS DISTINCT FROM NEW.finished_at OR OLD.grant_id <> NEW.grant_id OR OLD.user_id <> NEW.user_id)
  EXECUTE FUNCTION mauth_notify_introspection_grant_id();
CREATE TRIGGER oauth2_sessions_gone AFTER DELETE ON oauth2_sessions FOR EACH ROW
  EXECUTE FUNCTION mauth_notify_introspection_grant_id();

-- Users: locked, deactivated, renamed, deleted, or given a new password.
CREATE TRIGGER users_state_changed AFTER UPDATE ON users FOR EACH ROW
  WHEN (OLD.locked_at IS DISTINCT FROM NEW.locked_at OR OLD.deactivated_at IS DISTINCT FROM NEW.deactivated_at
        OR OLD.username <> NEW.username OR OLD.id <> NEW.id)
  EXECUTE FUNCTION mauth_notify_introspection_id('user');
CREATE TRIGGER users_gone AFTER DELETE ON users FOR EACH ROW
  EXECUTE FUNCTION mauth_notify_introspection_id('user');
CREATE TRIGGER user_passwords_changed AFTER INSERT OR UPDATE OR DELETE ON user_passwords FOR EACH ROW
  EXECUTE FUNCTION mauth_notify_introspection_user_id();

-- Compatibility sessions and their access tokens.
CREATE TRIGGER compat_sessions_changed AFTER UPDATE ON compat_sessions FOR EACH ROW
  WHEN (OLD.finished_at IS DISTINCT FROM NEW.finished_at OR OLD.is_synapse_admin <> NEW.is_synapse_admin
        OR OLD.device_id <> NEW.device_id OR OLD.user_id <> NEW.user_id OR OLD.id <> NEW.id)
  EXECUTE FUNCTION mauth_notify_introspection_id('compat');
CREATE TRIGGER compat_sessions_gone AFTER DELETE ON compat_sessions FOR EACH ROW
  EXECUTE FUNCTION mauth_notify_introspection_id('compat');
CREATE TRIGGER compat_access_tokens_changed AFTER UPDATE ON compat_access_tokens FOR EACH ROW
  WHEN (OLD.revoked_at IS DISTINCT FROM NEW.revoked_at OR OLD.expires_at IS DISTINCT FROM NEW.expires_at
        OR OLD.session_id <> NEW.session_id OR OLD.token_hash <> NEW.token_hash)
  EXECUTE FUNCTION mauth_notify_introspection_token_hash();
CREATE TRIGGER compat_access_tokens_gone AFTER DELETE ON compat_access_tokens FOR EACH ROW
  WHEN (OLD.expires_at IS NULL OR OLD.expires_at > now() - interval '1 hour')
  EXECUTE FUNCTION mauth_notify_introspection_token_hash();

-- Personal sessions and their tokens.
CREATE TRIGGER personal_sessions_changed AFTER UPDATE ON personal_sessions FOR EACH ROW
  WHEN (OLD.revoked_at IS DISTINCT FROM NEW.revoked_at OR OLD.scope <> NEW.scope
        OR OLD.actor_user_id <> NEW.actor_user_id OR OLD.owner_user_id IS DISTINCT FROM NEW.owner_user_id
        OR OLD.owner_client_id IS DISTINCT FROM NEW.owner_client_id OR OLD.id <> NEW.id)
  EXECUTE FUNCTION mauth_notify_introspection_id('personal');
CREATE TRIGGER personal_sessions_gone AFTER DELETE ON personal_sessions FOR EACH ROW
  EXECUTE FUNCTION mauth_notify_introspection_id('personal');
CREATE TRIGGER personal_access_tokens_changed AFTER UPDATE ON personal_access_tokens FOR EACH ROW
  WHEN (OLD.revoked_at IS DISTINCT FROM NEW.revoked_at OR OLD.expires_at IS DISTINCT FROM NEW.expires_at
        OR OLD.session_id <> NEW.session_id OR OLD.token_hash <> NEW.token_hash)
  EXECUTE FUNCTION mauth_notify_introspection_token_hash();
CREATE TRIGGER personal_access_tokens_gone AFTER DELETE ON personal_access_tokens FOR EACH ROW
  WHEN (OLD.expires_at IS NULL OR OLD.expires_at > now() - interval '1 hour')
  EXECUTE FUNCTION mauth_notify_introspection_token_hash();
