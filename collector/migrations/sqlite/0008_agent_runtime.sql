-- Agent runtime (schema 2): events a box dropped from its full spool, each device's connection status,
-- the galleries the bureau published, and unknown faces' embeddings. Times are epoch milliseconds UTC.
CREATE TABLE dropped_events (
    device_id       TEXT NOT NULL,
    seq             INTEGER NOT NULL,
    hash            TEXT NOT NULL,
    prev_hash       TEXT NOT NULL,
    interval_id     TEXT NOT NULL,
    reason          TEXT NOT NULL,
    reported_in_seq INTEGER NOT NULL,
    received_at_ms  INTEGER NOT NULL,
    PRIMARY KEY (device_id, seq)
);

CREATE TABLE device_status (
    device_id      TEXT PRIMARY KEY,
    state          TEXT NOT NULL,
    since_ms       INTEGER,
    received_at_ms INTEGER NOT NULL
);

CREATE TABLE gallery_publications (
    institution_code TEXT NOT NULL,
    version          INTEGER NOT NULL,
    issued_at_ms     INTEGER NOT NULL,
    model            TEXT NOT NULL,
    people           INTEGER NOT NULL,
    embeddings       INTEGER NOT NULL,
    digest           TEXT NOT NULL,
    devices          INTEGER NOT NULL,
    PRIMARY KEY (institution_code, version)
);

ALTER TABLE presence_intervals ADD COLUMN embedding TEXT;
