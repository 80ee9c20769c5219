-- Settlement records imported from the national medical-insurance platform (PostgreSQL).
-- Times are epoch milliseconds UTC (converted from the export's local time); money is in fen (0.01 yuan).
CREATE TABLE settlements (
    setl_id             TEXT PRIMARY KEY,
    mdtrt_id            TEXT NOT NULL,
    psn_no              TEXT NOT NULL,
    psn_name            TEXT,
    certno              TEXT,
    fixmedins_code      TEXT NOT NULL,
    fixmedins_name      TEXT,
    med_type            TEXT,
    setl_time_ms        BIGINT NOT NULL,
    medfee_sumamt_fen   BIGINT NOT NULL,
    fund_pay_sumamt_fen BIGINT NOT NULL,
    adm_time_ms         BIGINT,
    dscg_time_ms        BIGINT,
    wardarea_codg       TEXT,
    bedno               TEXT,
    row_sha             TEXT NOT NULL,
    import_id           BIGINT NOT NULL,
    source_row          BIGINT NOT NULL
);
CREATE INDEX settlements_by_mdtrt ON settlements (mdtrt_id);
CREATE INDEX settlements_by_institution ON settlements (fixmedins_code, setl_time_ms);

CREATE TABLE fee_lines (
    feedetl_sn              TEXT PRIMARY KEY,
    mdtrt_id                TEXT NOT NULL,
    psn_no                  TEXT NOT NULL,
    fee_ocur_time_ms        BIGINT NOT NULL,
    hilist_code             TEXT NOT NULL,
    hilist_name             TEXT,
    med_list_codg           TEXT,
    cnt                     DOUBLE PRECISION NOT NULL,
    pric                    DOUBLE PRECISION NOT NULL,
    det_item_fee_sumamt_fen BIGINT NOT NULL,
    bilg_dept_codg          TEXT,
    row_sha                 TEXT NOT NULL,
    import_id               BIGINT NOT NULL,
    source_row              BIGINT NOT NULL
);
CREATE INDEX fee_lines_by_mdtrt ON fee_lines (mdtrt_id);
CREATE INDEX fee_lines_by_person ON fee_lines (psn_no, fee_ocur_time_ms);

CREATE TABLE imports (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    file_name     TEXT NOT NULL,
    file_sha256   TEXT NOT NULL,
    kind          TEXT NOT NULL,
    rows_read     BIGINT NOT NULL,
    rows_new      BIGINT NOT NULL,
    rows_existing BIGINT NOT NULL,
    rows_bad      BIGINT NOT NULL,
    started_at_ms BIGINT NOT NULL,
    finished_at_ms BIGINT
);

CREATE TABLE import_errors (
    id        BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    import_id BIGINT NOT NULL,
    row_no    BIGINT NOT NULL,
    column_name TEXT NOT NULL,
    reason    TEXT NOT NULL
);
