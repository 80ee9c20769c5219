-- The review queue's filters and sorts (SQLite): the ward kind out of the evidence into a column, and
-- indexes for sorting by amount at stake and by appeal deadline (keyset paging on each). The state in
-- each index lets the queue's count per state under that filter read the index alone.
ALTER TABLE flags ADD COLUMN ward_kind TEXT;
UPDATE flags SET ward_kind = json_extract(evidence, '$.ward_kind');
CREATE INDEX flags_by_ward_kind ON flags (ward_kind, created_at_ms, state);
CREATE INDEX flags_by_amount ON flags (amount_fen, id, state);
CREATE INDEX flags_by_deadline ON flags (appeal_deadline_ms, id, state);
-- A state tab by amount, and a rule within one institution (both measured by the web_pages bench).
CREATE INDEX flags_by_state_amount ON flags (state, amount_fen, id);
CREATE INDEX flags_by_rule_institution ON flags (rule_id, fixmedins_code, state);
-- 实时在场 reads the open presence intervals.
CREATE INDEX presence_open ON presence_intervals (institution_code) WHERE is_open = 1;
