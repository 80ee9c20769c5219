-- Devices, events, presence, chain state, gaps and quarantine (SQLite). Times are epoch milliseconds UTC.
CREATE TABLE devices (
    device_id        TEXT PRIMARY KEY,
    institution_code TEXT NOT NULL,
    public_key       TEXT NOT NULL,
    registered_at_ms INTEGER NOT NULL
);

CREATE TABLE events (
    event_id         TEXT PRIMARY KEY,
    device_id        TEXT NOT NULL,
    seq              INTEGER NOT NULL,
    kind             TEXT NOT NULL,
    institution_code TEXT NOT NULL,
    sent_at_ms       INTEGER NOT NULL,
    received_at_ms   INTEGER NOT NULL,
    prev_hash        TEXT NOT NULL,
    hash             TEXT NOT NULL,
    body             TEXT NOT NULL,
    UNIQUE (device_id, seq)
);

CREATE TABLE presence_intervals (
    interval_id       TEXT PRIMARY KEY,
    device_id         TEXT NOT NULL,
    institution_code  TEXT NOT NULL,
    camera_id         TEXT NOT NULL,
    ward_kind         TEXT NOT NULL,
    psn_no            TEXT,
    track_id          TEXT,
    start_ms          INTEGER NOT NULL,
    end_ms            INTEGER NOT NULL,
    is_open           INTEGER NOT NULL,
    samples           INTEGER NOT NULL,
    best_similarity   REAL NOT NULL,
    median_similarity REAL NOT NULL,
    liveness          REAL NOT NULL,
    seq               INTEGER NOT NULL,
    event_id          TEXT NOT NULL
);
CREATE INDEX presence_by_person ON presence_intervals (psn_no, start_ms);
CREATE INDEX presence_by_institution ON presence_intervals (institution_code, start_ms);

CREATE TABLE device_state (
    device_id      TEXT PRIMARY KEY,
    contiguous_seq INTEGER NOT NULL,
    max_seq        INTEGER NOT NULL,
    duplicates     INTEGER NOT NULL
);

CREATE TABLE gaps (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    device_id    TEXT NOT NULL,
    from_seq     INTEGER NOT NULL,
    to_seq       INTEGER NOT NULL,
    opened_at_ms INTEGER NOT NULL,
    closed_at_ms INTEGER
);
CREATE INDEX gaps_open ON gaps (device_id, closed_at_ms);

CREATE TABLE quarantine (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    digest        TEXT NOT NULL UNIQUE,
    reason        TEXT NOT NULL,
    detail        TEXT NOT NULL,
    topic         TEXT NOT NULL,
    raw           BLOB NOT NULL,
    raw_size      INTEGER NOT NULL,
    first_seen_ms INTEGER NOT NULL,
    last_seen_ms  INTEGER NOT NULL,
    times_seen    INTEGER NOT NULL
);
