-- Settlement records imported from the national medical-insurance platform (SQLite).
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
    setl_time_ms        INTEGER NOT NULL,
    medfee_sumamt_fen   INTEGER NOT NULL,
    fund_pay_sumamt_fen INTEGER NOT NULL,
    adm_time_ms         INTEGER,
    dscg_time_ms        INTEGER,
    wardarea_codg       TEXT,
    bedno               TEXT,
    row_sha             TEXT NOT NULL,
    import_id           INTEGER NOT NULL,
    source_row          INTEGER NOT NULL
);
CREATE INDEX settlements_by_mdtrt ON settlements (mdtrt_id);
CREATE INDEX settlements_by_institution ON settlements (fixmedins_code, setl_time_ms);

CREATE TABLE fee_lines (
    feedetl_sn              TEXT PRIMARY KEY,
    mdtrt_id                TEXT NOT NULL,
    psn_no                  TEXT NOT NULL,
    fee_ocur_time_ms        INTEGER NOT NULL,
    hilist_code             TEXT NOT NULL,
    hilist_name             TEXT,
    med_list_codg           TEXT,
    cnt                     REAL NOT NULL,
    pric                    REAL NOT NULL,
    det_item_fee_sumamt_fen INTEGER NOT NULL,
    bilg_dept_codg          TEXT,
    row_sha                 TEXT NOT NULL,
    import_id               INTEGER NOT NULL,
    source_row              INTEGER NOT NULL
);
CREATE INDEX fee_lines_by_mdtrt ON fee_lines (mdtrt_id);
CREATE INDEX fee_lines_by_person ON fee_lines (psn_no, fee_ocur_time_ms);

CREATE TABLE imports (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    file_name     TEXT NOT NULL,
    file_sha256   TEXT NOT NULL,
    kind          TEXT NOT NULL,
    rows_read     INTEGER NOT NULL,
    rows_new      INTEGER NOT NULL,
    rows_existing INTEGER NOT NULL,
    rows_bad      INTEGER NOT NULL,
    started_at_ms INTEGER NOT NULL,
    finished_at_ms INTEGER
);

CREATE TABLE import_errors (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    import_id INTEGER NOT NULL,
    row_no    INTEGER NOT NULL,
    column_name TEXT NOT NULL,
    reason    TEXT NOT NULL
);
