-- (PostgreSQL) The rules base (规则库), versioned like the knowledge base: every import of a rules file is a new
-- version and the newest is in force. `rule_definitions` keeps each rule of each version (names,
-- scenario, enabled flag, parameters as JSON, and the version in which that rule last changed).
CREATE TABLE rule_versions (
    version       BIGINT PRIMARY KEY,
    note          TEXT NOT NULL,
    source        TEXT NOT NULL,
    body          TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL
);

CREATE TABLE rule_definitions (
    version      BIGINT NOT NULL,
    rule_id      TEXT NOT NULL,
    name_zh      TEXT NOT NULL,
    name_en      TEXT NOT NULL,
    scenario     TEXT NOT NULL,
    enabled      BIGINT NOT NULL,
    params       TEXT NOT NULL,
    rule_version BIGINT NOT NULL,
    PRIMARY KEY (version, rule_id)
);

-- Enrolled face embeddings per institution and insured person (the bureau's gallery). The agent
-- computes them (`wardwatch-agent enroll-embed`); the collector keeps them, checks them for duplicate
-- identities, and (with the agent-runtime issue) signs and publishes them.
CREATE TABLE gallery_embeddings (
    id             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    fixmedins_code TEXT NOT NULL,
    psn_no         TEXT NOT NULL,
    model          TEXT NOT NULL,
    embedding      TEXT NOT NULL,
    digest         TEXT NOT NULL,
    enrolled_at_ms BIGINT NOT NULL,
    UNIQUE (fixmedins_code, psn_no, digest)
);
CREATE INDEX gallery_by_person ON gallery_embeddings (psn_no);
