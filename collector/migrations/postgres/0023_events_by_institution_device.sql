-- The rules' silence query reads each ward box's events of the month in sealing order
-- (LAG/LEAD over device_id, sent_at_ms; rules/monitoring.rs). With events_by_institution
-- (institution_code, sent_at_ms) PostgreSQL fetched an institution's ~20,000 events a month and
-- sorted them by device: 76 ms an institution, 600 institutions a province. With the device in the
-- index the rows come in the window's order: 24 ms (docs/postgres-scale.md). This index replaces the
-- old one, so ingest keeps the same number of indexes to maintain; the web timeline's query
-- (institution, a day) uses it with the day as an index condition per device.
DROP INDEX IF EXISTS events_by_institution;
CREATE INDEX events_by_institution_device ON events (institution_code, device_id, sent_at_ms);
