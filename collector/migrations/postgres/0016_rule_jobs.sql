-- Rule jobs that `serve` runs by itself (PostgreSQL): one row per local day or month, asked for again
-- (requested + 1) whenever an import stores billing for it; done when a run of that request finished.
-- Times are epoch milliseconds UTC.
CREATE TABLE rule_jobs (
    -- `day:2026-11-03` or `month:2026-11`.
    period            TEXT PRIMARY KEY,
    -- The period's bounds in the zone of whoever asked for it.
    from_ms           BIGINT NOT NULL,
    to_ms             BIGINT NOT NULL,
    -- The latest request and the request the last finished run answered.
    requested         BIGINT NOT NULL,
    done              BIGINT NOT NULL DEFAULT 0,
    -- The request being run, and by whom (a run killed mid-way leaves them set: resumed first).
    running           BIGINT,
    owner             TEXT,
    attempts          BIGINT NOT NULL DEFAULT 0,
    -- After a failure, not retried before this time.
    not_before_ms     BIGINT NOT NULL DEFAULT 0,
    last_started_ms   BIGINT,
    last_finished_ms  BIGINT,
    last_outcome      TEXT,
    last_error        TEXT,
    last_duration_ms  BIGINT,
    last_flags_raised BIGINT
);
CREATE INDEX rule_jobs_pending ON rule_jobs (to_ms) WHERE done < requested;

-- Leases: whoever holds a name's lease (and renews it before it expires) is the only collector doing
-- that kind of work; a collector killed holding it lets it expire, and another takes over.
CREATE TABLE job_leases (
    name        TEXT PRIMARY KEY,
    owner       TEXT,
    expires_ms  BIGINT NOT NULL DEFAULT 0,
    job         TEXT
);
INSERT INTO job_leases (name) VALUES ('rules');
