-- Indexes for a rules run that loads one institution at a time (collector/src/rules/run.rs), chosen from
-- the query plans of the province bench (docs/postgres-scale.md):
-- * a ward box's silences and its institution's last events: the institution's events in the window;
CREATE INDEX events_by_institution ON events (institution_code, sent_at_ms);
-- * camera outages: the institution's camera state changes only (a few among thousands of heartbeats);
CREATE INDEX events_camera_by_institution ON events (institution_code, sent_at_ms) WHERE kind = 'camera';
-- * the window's lines of the few items the rules judge, among many more drug and consumable lines.
CREATE INDEX fee_lines_by_item ON fee_lines (hilist_code, fee_ocur_time_ms);
