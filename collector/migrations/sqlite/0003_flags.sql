-- Flags raised by rules and the auditors' review workflow (SQLite).
CREATE TABLE flags (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    dedup_key       TEXT NOT NULL UNIQUE,
    rule_id         TEXT NOT NULL,
    rule_version    INTEGER NOT NULL,
    fixmedins_code  TEXT NOT NULL,
    psn_no          TEXT,
    amount_fen      INTEGER NOT NULL,
    evidence        TEXT NOT NULL,
    state           TEXT NOT NULL,
    appeal_deadline_ms INTEGER,
    appeal_text     TEXT,
    outcome         TEXT,
    outcome_amount_fen INTEGER,
    created_at_ms   INTEGER NOT NULL,
    updated_at_ms   INTEGER NOT NULL
);
CREATE INDEX flags_by_institution ON flags (fixmedins_code, state);
CREATE INDEX flags_by_rule ON flags (rule_id, state);

CREATE TABLE flag_lines (
    flag_id    INTEGER NOT NULL,
    feedetl_sn TEXT NOT NULL,
    PRIMARY KEY (flag_id, feedetl_sn)
);

ALTER TABLE fee_lines ADD COLUMN recovered_by_flag INTEGER;

CREATE TABLE flag_events (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    flag_id     INTEGER NOT NULL,
    at_ms       INTEGER NOT NULL,
    actor       TEXT NOT NULL,
    role        TEXT NOT NULL,
    action      TEXT NOT NULL,
    from_state  TEXT NOT NULL,
    to_state    TEXT NOT NULL,
    reason      TEXT NOT NULL,
    amount_fen  INTEGER
);

-- The audit log is append-only: nothing may edit or delete it.
CREATE TRIGGER flag_events_no_update BEFORE UPDATE ON flag_events
BEGIN SELECT RAISE(ABORT, 'flag_events is append-only'); END;
CREATE TRIGGER flag_events_no_delete BEFORE DELETE ON flag_events
BEGIN SELECT RAISE(ABORT, 'flag_events is append-only'); END;

CREATE TABLE flag_attachments (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    flag_id     INTEGER NOT NULL,
    file_name   TEXT NOT NULL,
    sha256      TEXT NOT NULL,
    size        INTEGER NOT NULL,
    content     BLOB NOT NULL,
    uploaded_by TEXT NOT NULL,
    at_ms       INTEGER NOT NULL
);
