-- The JSON API: its users (token holders) and the append-only access log (SQLite).
CREATE TABLE users (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    name            TEXT NOT NULL UNIQUE,
    role            TEXT NOT NULL CHECK (role IN ('admin', 'auditor', 'institution')),
    fixmedins_code  TEXT,
    token_sha256    TEXT NOT NULL UNIQUE,
    created_at_ms   INTEGER NOT NULL,
    disabled        INTEGER NOT NULL DEFAULT 0,
    -- an institution user is bound to exactly one institution; bureau users to none
    CHECK ((role = 'institution') = (fixmedins_code IS NOT NULL))
);

CREATE TABLE access_log (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    at_ms       INTEGER NOT NULL,
    user_name   TEXT NOT NULL,
    role        TEXT NOT NULL,
    method      TEXT NOT NULL,
    path        TEXT NOT NULL,
    status      INTEGER NOT NULL,
    flag_id     INTEGER,
    detail      TEXT NOT NULL
);
CREATE INDEX access_log_by_flag ON access_log (flag_id);

-- The access log is append-only: nothing may edit or delete it.
CREATE TRIGGER access_log_no_update BEFORE UPDATE ON access_log
BEGIN SELECT RAISE(ABORT, 'access_log is append-only'); END;
CREATE TRIGGER access_log_no_delete BEFORE DELETE ON access_log
BEGIN SELECT RAISE(ABORT, 'access_log is append-only'); END;
