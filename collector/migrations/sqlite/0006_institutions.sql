-- (SQLite) The institutions registry (定点医药机构): names, categories and regions for the exports. An
-- institution that is not registered is still exported: its name comes from the settlements, its
-- category is 未分类 and its region (医保区划, admdvs) is derived from its code.
CREATE TABLE institutions (
    fixmedins_code TEXT PRIMARY KEY,
    fixmedins_name TEXT NOT NULL,
    category       TEXT NOT NULL,
    admdvs         TEXT NOT NULL,
    region_name    TEXT,
    updated_at_ms  INTEGER NOT NULL
);
CREATE INDEX institutions_by_region ON institutions (admdvs);

-- The deduction export looks flags up by their handling time.
CREATE INDEX flag_events_by_action ON flag_events (action, at_ms);
