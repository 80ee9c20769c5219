-- The web app (PostgreSQL): password logins beside the API's tokens, sessions kept in the database (so they
-- expire and can be revoked, and several collectors behind one proxy share them), and login attempts for
-- throttling. Times are epoch milliseconds UTC.
ALTER TABLE users ADD COLUMN password_hash TEXT;
-- 1 while the password is a one-time initial one: the first login must change it.
ALTER TABLE users ADD COLUMN must_change_password BIGINT NOT NULL DEFAULT 0;

CREATE TABLE web_sessions (
    -- SHA-256 of the cookie's token: the database never holds a usable session.
    token_sha256  TEXT PRIMARY KEY,
    user_name     TEXT NOT NULL,
    csrf_token    TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    last_seen_ms  BIGINT NOT NULL,
    expires_at_ms BIGINT NOT NULL
);
CREATE INDEX web_sessions_by_user ON web_sessions (user_name);

CREATE TABLE web_login_attempts (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at_ms      BIGINT NOT NULL,
    login      TEXT NOT NULL,
    ip         TEXT NOT NULL,
    succeeded  BIGINT NOT NULL
);
CREATE INDEX web_login_attempts_by_login ON web_login_attempts (login, at_ms);
CREATE INDEX web_login_attempts_by_ip ON web_login_attempts (ip, at_ms);

-- The review queue filters by state within a rule or an institution and pages by id.
CREATE INDEX flags_by_state ON flags (state, id);
-- The flag page draws the box's silent periods from the institution's events of the day.
CREATE INDEX events_by_institution_time ON events (institution_code, sent_at_ms);
