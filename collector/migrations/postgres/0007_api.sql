-- The JSON API: its users (token holders) and the append-only access log (PostgreSQL).
CREATE TABLE users (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name            TEXT NOT NULL UNIQUE,
    role            TEXT NOT NULL CHECK (role IN ('admin', 'auditor', 'institution')),
    fixmedins_code  TEXT,
    token_sha256    TEXT NOT NULL UNIQUE,
    created_at_ms   BIGINT NOT NULL,
    disabled        BIGINT NOT NULL DEFAULT 0,
    -- an institution user is bound to exactly one institution; bureau users to none
    CHECK ((role = 'institution') = (fixmedins_code IS NOT NULL))
);

CREATE TABLE access_log (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at_ms       BIGINT NOT NULL,
    user_name   TEXT NOT NULL,
    role        TEXT NOT NULL,
    method      TEXT NOT NULL,
    path        TEXT NOT NULL,
    status      BIGINT NOT NULL,
    flag_id     BIGINT,
    detail      TEXT NOT NULL
);
CREATE INDEX access_log_by_flag ON access_log (flag_id);

-- The access log is append-only: nothing may edit or delete it.
CREATE FUNCTION access_log_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'access_log is append-only';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER access_log_no_update BEFORE UPDATE OR DELETE ON access_log
FOR EACH ROW EXECUTE FUNCTION access_log_append_only();
