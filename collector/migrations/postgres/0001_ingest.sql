-- Devices, events, presence, chain state, gaps and quarantine (PostgreSQL). Times are epoch milliseconds UTC.
CREATE TABLE devices (
    device_id        TEXT PRIMARY KEY,
    institution_code TEXT NOT NULL,
    public_key       TEXT NOT NULL,
    registered_at_ms BIGINT NOT NULL
);

CREATE TABLE events (
    event_id         TEXT PRIMARY KEY,
    device_id        TEXT NOT NULL,
    seq              BIGINT NOT NULL,
    kind             TEXT NOT NULL,
    institution_code TEXT NOT NULL,
    sent_at_ms       BIGINT NOT NULL,
    received_at_ms   BIGINT NOT NULL,
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
    start_ms          BIGINT NOT NULL,
    end_ms            BIGINT NOT NULL,
    is_open           BIGINT NOT NULL,
    samples           BIGINT NOT NULL,
    best_similarity   DOUBLE PRECISION NOT NULL,
    median_similarity DOUBLE PRECISION NOT NULL,
    liveness          DOUBLE PRECISION NOT NULL,
    seq               BIGINT NOT NULL,
    event_id          TEXT NOT NULL
);
CREATE INDEX presence_by_person ON presence_intervals (psn_no, start_ms);
CREATE INDEX presence_by_institution ON presence_intervals (institution_code, start_ms);

CREATE TABLE device_state (
    device_id      TEXT PRIMARY KEY,
    contiguous_seq BIGINT NOT NULL,
    max_seq        BIGINT NOT NULL,
    duplicates     BIGINT NOT NULL
);

CREATE TABLE gaps (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    device_id    TEXT NOT NULL,
    from_seq     BIGINT NOT NULL,
    to_seq       BIGINT NOT NULL,
    opened_at_ms BIGINT NOT NULL,
    closed_at_ms BIGINT
);
CREATE INDEX gaps_open ON gaps (device_id, closed_at_ms);

CREATE TABLE quarantine (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    digest        TEXT NOT NULL UNIQUE,
    reason        TEXT NOT NULL,
    detail        TEXT NOT NULL,
    topic         TEXT NOT NULL,
    raw           BYTEA NOT NULL,
    raw_size      BIGINT NOT NULL,
    first_seen_ms BIGINT NOT NULL,
    last_seen_ms  BIGINT NOT NULL,
    times_seen    BIGINT NOT NULL
);
