-- Retention (SQLite): what `retention run` (and `serve` daily, with [retention]) deleted, per data
-- class and run, append-only. Times are epoch milliseconds UTC.
CREATE TABLE retention_log (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    at_ms       INTEGER NOT NULL,
    -- presence_detail, unknown_embeddings, evidence_crops, quarantine_bytes
    data_class  TEXT NOT NULL,
    -- Data older than this was due; rows held by an open flag's case were kept.
    cutoff_ms   INTEGER NOT NULL,
    rows        INTEGER NOT NULL,
    held        INTEGER NOT NULL,
    detail      TEXT NOT NULL
);
CREATE TRIGGER retention_log_no_update BEFORE UPDATE ON retention_log
BEGIN SELECT RAISE(ABORT, 'retention_log is append-only'); END;
CREATE TRIGGER retention_log_no_delete BEFORE DELETE ON retention_log
BEGIN SELECT RAISE(ABORT, 'retention_log is append-only'); END;

-- Only one collector runs retention at a time.
INSERT INTO job_leases (name) VALUES ('retention');
