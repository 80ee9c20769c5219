-- Per institution and local day: minutes of billed session slots and how many of them the ward was
-- blind (camera outage, silent box, no box), as the last rules run over that day computed them. The
-- coverage figure (share of billed session time under working monitoring) is read from here.
CREATE TABLE billing_coverage (
    institution_code TEXT NOT NULL,
    local_date       TEXT NOT NULL,
    billed_minutes   REAL NOT NULL,
    blind_minutes    REAL NOT NULL,
    computed_at_ms   INTEGER NOT NULL,
    PRIMARY KEY (institution_code, local_date)
);
