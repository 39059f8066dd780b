-- Inactive session expiration (experimental.inactive_session_expiration): browsers record when
-- they were last used, like OAuth 2.0 and legacy sessions; a session that never recorded any
-- activity has been idle since it was created. The sweep looks live sessions up by that instant.
ALTER TABLE browser_sessions ADD COLUMN last_active_at timestamptz;

CREATE INDEX oauth2_sessions_idle ON oauth2_sessions ((coalesce(last_active_at, created_at))) WHERE finished_at IS NULL;
CREATE INDEX compat_sessions_idle ON compat_sessions ((coalesce(last_active_at, created_at))) WHERE finished_at IS NULL;
CREATE INDEX browser_sessions_idle ON browser_sessions ((coalesce(last_active_at, created_at))) WHERE finished_at IS NULL;
