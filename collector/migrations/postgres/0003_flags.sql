-- Flags raised by rules and the auditors' review workflow (PostgreSQL).
CREATE TABLE flags (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    dedup_key       TEXT NOT NULL UNIQUE,
    rule_id         TEXT NOT NULL,
    rule_version    BIGINT NOT NULL,
    fixmedins_code  TEXT NOT NULL,
    psn_no          TEXT,
    amount_fen      BIGINT NOT NULL,
    evidence        TEXT NOT NULL,
    state           TEXT NOT NULL,
    appeal_deadline_ms BIGINT,
    appeal_text     TEXT,
    outcome         TEXT,
    outcome_amount_fen BIGINT,
    created_at_ms   BIGINT NOT NULL,
    updated_at_ms   BIGINT NOT NULL
);
CREATE INDEX flags_by_institution ON flags (fixmedins_code, state);
CREATE INDEX flags_by_rule ON flags (rule_id, state);

CREATE TABLE flag_lines (
    flag_id    BIGINT NOT NULL,
    feedetl_sn TEXT NOT NULL,
    PRIMARY KEY (flag_id, feedetl_sn)
);

ALTER TABLE fee_lines ADD COLUMN recovered_by_flag BIGINT;

CREATE TABLE flag_events (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    flag_id     BIGINT NOT NULL,
    at_ms       BIGINT NOT NULL,
    actor       TEXT NOT NULL,
    role        TEXT NOT NULL,
    action      TEXT NOT NULL,
    from_state  TEXT NOT NULL,
    to_state    TEXT NOT NULL,
    reason      TEXT NOT NULL,
    amount_fen  BIGINT
);

-- The audit log is append-only: nothing may edit or delete it.
CREATE FUNCTION flag_events_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'flag_events is append-only';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER flag_events_no_update BEFORE UPDATE OR DELETE ON flag_events
FOR EACH ROW EXECUTE FUNCTION flag_events_append_only();

CREATE TABLE flag_attachments (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    flag_id     BIGINT NOT NULL,
    file_name   TEXT NOT NULL,
    sha256      TEXT NOT NULL,
    size        BIGINT NOT NULL,
    content     BYTEA NOT NULL,
    uploaded_by TEXT NOT NULL,
    at_ms       BIGINT NOT NULL
);
