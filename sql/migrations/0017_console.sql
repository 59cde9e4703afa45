-- 0017: the web console's sign-in. A person signs in with a password (argon2id hash, set by the
-- admin command) or an access token; a signed-in browser holds a session whose id is in a signed
-- cookie and whose row is here, so that signing out (or deleting the user) ends it at once.
ALTER TABLE users ADD COLUMN password_hash text;

CREATE TABLE console_sessions (
    -- SHA-256 of the session id: the id itself is only in the browser's cookie.
    id_hash       bytea PRIMARY KEY,
    user_id       bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at    timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz NOT NULL
);
CREATE INDEX console_sessions_user ON console_sessions (user_id);
CREATE INDEX console_sessions_expires ON console_sessions (expires_at);
