-- What a device is registered for (issue 12): 'production' (a ward box whose events are evidence) or
-- 'tests' (a box for tests and demos). Test data — events sealed in test mode, heartbeats saying a
-- camera reads a recording — is quarantined as test_source from a production device. Every device
-- registered before this migration is a production device.
ALTER TABLE devices ADD COLUMN purpose TEXT NOT NULL DEFAULT 'production'
    CHECK (purpose IN ('production', 'tests'));
