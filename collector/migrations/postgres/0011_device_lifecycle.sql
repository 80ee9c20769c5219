-- Device lifecycle (issue 13): a device's key replaced from a seal time, the keys it replaced kept with
-- the seal times they covered (so stored events stay verifiable), and a device revoked from a seal
-- time (events it seals from then on are quarantined as device_revoked). Times are epoch ms UTC.
ALTER TABLE devices ADD COLUMN key_from_ms BIGINT NOT NULL DEFAULT 0;
ALTER TABLE devices ADD COLUMN revoked_from_ms BIGINT;
ALTER TABLE devices ADD COLUMN revoked_reason TEXT;
ALTER TABLE devices ADD COLUMN revoked_at_ms BIGINT;

CREATE TABLE device_retired_keys (
    device_id      TEXT NOT NULL REFERENCES devices (device_id),
    public_key     TEXT NOT NULL,
    valid_from_ms  BIGINT NOT NULL,
    valid_until_ms BIGINT NOT NULL,
    retired_at_ms  BIGINT NOT NULL,
    PRIMARY KEY (device_id, valid_from_ms)
);
