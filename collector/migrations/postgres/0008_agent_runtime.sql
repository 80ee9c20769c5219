-- Agent runtime (schema 2): events a box dropped from its full spool, each device's connection status,
-- the galleries the bureau published, and unknown faces' embeddings. Times are epoch milliseconds UTC.
CREATE TABLE dropped_events (
    device_id       TEXT NOT NULL,
    seq             BIGINT NOT NULL,
    hash            TEXT NOT NULL,
    prev_hash       TEXT NOT NULL,
    interval_id     TEXT NOT NULL,
    reason          TEXT NOT NULL,
    reported_in_seq BIGINT NOT NULL,
    received_at_ms  BIGINT NOT NULL,
    PRIMARY KEY (device_id, seq)
);

CREATE TABLE device_status (
    device_id      TEXT PRIMARY KEY,
    state          TEXT NOT NULL,
    since_ms       BIGINT,
    received_at_ms BIGINT NOT NULL
);

CREATE TABLE gallery_publications (
    institution_code TEXT NOT NULL,
    version          BIGINT NOT NULL,
    issued_at_ms     BIGINT NOT NULL,
    model            TEXT NOT NULL,
    people           BIGINT NOT NULL,
    embeddings       BIGINT NOT NULL,
    digest           TEXT NOT NULL,
    devices          BIGINT NOT NULL,
    PRIMARY KEY (institution_code, version)
);

ALTER TABLE presence_intervals ADD COLUMN embedding TEXT;
