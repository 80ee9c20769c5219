-- The review queue's filters and sorts (SQLite): the ward kind out of the evidence into a column, and
-- indexes for sorting by amount at stake and by appeal deadline (keyset paging on each).
ALTER TABLE flags ADD COLUMN ward_kind TEXT;
UPDATE flags SET ward_kind = json_extract(evidence, '$.ward_kind');
CREATE INDEX flags_by_ward_kind ON flags (ward_kind, id);
CREATE INDEX flags_by_amount ON flags (amount_fen, id);
CREATE INDEX flags_by_deadline ON flags (appeal_deadline_ms, id);
-- 实时在场 reads the open presence intervals.
CREATE INDEX presence_open ON presence_intervals (institution_code) WHERE is_open = 1;
