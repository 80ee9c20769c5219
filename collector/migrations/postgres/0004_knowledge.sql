-- The knowledge base (知识库), versioned: every import is a new version; the newest is in force.
CREATE TABLE knowledge_versions (
    version       BIGINT PRIMARY KEY,
    note          TEXT NOT NULL,
    source        TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL
);

CREATE TABLE knowledge_items (
    version              BIGINT NOT NULL,
    hilist_code          TEXT NOT NULL,
    name_zh              TEXT NOT NULL,
    name_en              TEXT NOT NULL,
    ward_kind            TEXT NOT NULL,
    unit                 TEXT NOT NULL,
    min_presence_minutes BIGINT NOT NULL,
    PRIMARY KEY (version, hilist_code)
);
