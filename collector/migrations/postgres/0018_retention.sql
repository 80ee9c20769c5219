-- Retention (PostgreSQL): what `retention run` (and `serve` daily, with [retention]) deleted, per data
-- class and run, append-only. Times are epoch milliseconds UTC.
CREATE TABLE retention_log (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at_ms       BIGINT NOT NULL,
    -- presence_detail, unknown_embeddings, evidence_crops, quarantine_bytes
    data_class  TEXT NOT NULL,
    -- Data older than this was due; rows held by an open flag's case were kept.
    cutoff_ms   BIGINT NOT NULL,
    rows        BIGINT NOT NULL,
    held        BIGINT NOT NULL,
    detail      TEXT NOT NULL
);
CREATE FUNCTION retention_log_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'retention_log is append-only';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER retention_log_no_change BEFORE UPDATE OR DELETE ON retention_log
    FOR EACH ROW EXECUTE FUNCTION retention_log_append_only();
CREATE TRIGGER retention_log_no_truncate BEFORE TRUNCATE ON retention_log
    FOR EACH STATEMENT EXECUTE FUNCTION retention_log_append_only();

-- Only one collector runs retention at a time.
INSERT INTO job_leases (name) VALUES ('retention');
