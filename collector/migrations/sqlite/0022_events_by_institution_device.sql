-- The rules' silence query reads each ward box's events of the month in sealing order
-- (LAG/LEAD over device_id, sent_at_ms; rules/monitoring.rs): with the device in the index the rows
-- come in the window's order instead of being sorted per institution. It replaces
-- events_by_institution (institution_code, sent_at_ms) of 0019; events_by_institution_time (0014), the
-- same columns, stays for the web timeline's day of an institution.
DROP INDEX IF EXISTS events_by_institution;
CREATE INDEX events_by_institution_device ON events (institution_code, device_id, sent_at_ms);
