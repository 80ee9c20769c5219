-- The three big tables (events, presence intervals, fee lines) range-partitioned by month, with the data
-- they hold moved over: a province adds tens of millions of rows a month, and a month's queries, indexes
-- and (later) retention should touch that month's partition only. docs/postgres-scale.md has the plans.
--
-- Months are the bureau's: a partition starts at local midnight of the 1st in Asia/Shanghai (the zone every
-- date in the collector defaults to). Each table also has a DEFAULT partition for a row of a month without
-- its own partition yet (a box's spool delivered weeks late, an old settlement file).
-- wardwatch_month_partitions() creates the months asked for: the collector asks at start-up and from `serve`
-- for the months around now, and the import for the months of the lines it stores.
-- wardwatch_fold_default_partitions() gives every month found in a default partition its own, moving the
-- rows over: `serve` runs it with the former (collector/src/store/partitions.rs).
--
-- PostgreSQL requires a partitioned table's unique keys to include the partition key, but the collector's
-- idempotence rests on keys without a time: an event's id and its (device, seq), a presence interval's id
-- (an open interval is updated in place when it closes, and its start may move), a fee line's feedetl_sn.
-- So each table gets a small unpartitioned key table holding those keys, claimed in the same transaction
-- as the row:
-- * events and fee lines: a BEFORE INSERT trigger claims the key and skips the row when it is taken, which
--   is exactly `ON CONFLICT DO NOTHING` on the old table (the statements the collector runs are unchanged,
--   and a skipped row is not counted in their row counts, as before);
-- * presence intervals: the collector claims the keys itself (collector/src/store/ingest.rs), then inserts
--   the new intervals and updates the known ones. A trigger cannot do it: an update that moves an interval's
--   start into another month moves the row between partitions, which fires the destination's INSERT
--   triggers.
-- A DELETE statement on a partitioned table releases the keys of the rows it deleted (statement triggers
-- with a transition table), so retention's deletes behave as before.

CREATE FUNCTION wardwatch_month_start(ms BIGINT) RETURNS BIGINT LANGUAGE sql STABLE AS $$
    SELECT (EXTRACT(EPOCH FROM
        date_trunc('month', to_timestamp(ms / 1000.0) AT TIME ZONE 'Asia/Shanghai') AT TIME ZONE 'Asia/Shanghai'
    ) * 1000)::BIGINT
$$;

CREATE FUNCTION wardwatch_next_month_start(ms BIGINT) RETURNS BIGINT LANGUAGE sql STABLE AS $$
    SELECT (EXTRACT(EPOCH FROM
        (date_trunc('month', to_timestamp(ms / 1000.0) AT TIME ZONE 'Asia/Shanghai') + INTERVAL '1 month')
            AT TIME ZONE 'Asia/Shanghai'
    ) * 1000)::BIGINT
$$;

-- The partition key of each partitioned table.
CREATE FUNCTION wardwatch_partition_key(parent TEXT) RETURNS TEXT LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE parent
        WHEN 'events' THEN 'sent_at_ms'
        WHEN 'presence_intervals' THEN 'start_ms'
        WHEN 'fee_lines' THEN 'fee_ocur_time_ms'
    END
$$;

-- The months that get partitions of their own: from ten years back to three months ahead. A box holds
-- its key and can seal an event at any date ("late is not forged", so the collector stores it), and a
-- settlement file can carry any date: without a window, events sealed in a thousand different months
-- would make a thousand partitions per table, and every query that cannot prune would plan over all of
-- them. Rows outside the window stay in the default partition: stored, only not partitioned.
CREATE FUNCTION wardwatch_partition_floor() RETURNS BIGINT LANGUAGE sql STABLE AS $$
    SELECT wardwatch_month_start((EXTRACT(EPOCH FROM now() - INTERVAL '10 years') * 1000)::BIGINT)
$$;

CREATE FUNCTION wardwatch_partition_ceiling() RETURNS BIGINT LANGUAGE sql STABLE AS $$
    SELECT wardwatch_next_month_start((EXTRACT(EPOCH FROM now() + INTERVAL '3 months') * 1000)::BIGINT)
$$;

-- Makes sure `parent` has the partition of the month holding `at_ms` (named like events_y2026m12), moving
-- that month's rows out of the default partition first. Returns the partition's name, or NULL for a month
-- outside the window above (its rows stay in the default partition).
CREATE FUNCTION wardwatch_month_partition(parent TEXT, at_ms BIGINT) RETURNS TEXT LANGUAGE plpgsql AS $$
DECLARE
    key TEXT := wardwatch_partition_key(parent);
    lo BIGINT := wardwatch_month_start(at_ms);
    hi BIGINT := wardwatch_next_month_start(at_ms);
    name TEXT := parent || to_char(to_timestamp(lo / 1000.0) AT TIME ZONE 'Asia/Shanghai', '"_y"YYYY"m"MM');
BEGIN
    IF key IS NULL THEN
        RAISE EXCEPTION 'wardwatch_month_partition: % is not partitioned by month', parent;
    END IF;
    IF lo < wardwatch_partition_floor() OR lo >= wardwatch_partition_ceiling() THEN
        RETURN NULL;
    END IF;
    -- One collector at a time adds partitions; the others wait here, then find them made.
    PERFORM pg_advisory_xact_lock(hashtext('wardwatch_month_partition'));
    IF to_regclass(name) IS NOT NULL THEN
        RETURN name;
    END IF;
    -- Rows for the default partition wait while its rows of the month move (ATTACH locks it anyway).
    EXECUTE format('LOCK TABLE %I IN ACCESS EXCLUSIVE MODE', parent || '_default');
    EXECUTE format('CREATE TABLE %I (LIKE %I INCLUDING DEFAULTS INCLUDING CONSTRAINTS)', name, parent);
    -- A DELETE on the partition itself fires none of the parent's statement triggers: the keys stay.
    EXECUTE format(
        'WITH moved AS (DELETE FROM %I WHERE %I >= $1 AND %I < $2 RETURNING *) INSERT INTO %I SELECT * FROM moved',
        parent || '_default', key, key, name
    ) USING lo, hi;
    EXECUTE format('ALTER TABLE %I ATTACH PARTITION %I FOR VALUES FROM (%s) TO (%s)', parent, name, lo, hi);
    RETURN name;
END
$$;

-- Every month from `from_ms` to `to_ms` inside the window for the three tables. Returns how many
-- partitions it made.
CREATE FUNCTION wardwatch_month_partitions(from_ms BIGINT, to_ms BIGINT) RETURNS INTEGER LANGUAGE plpgsql AS $$
DECLARE
    parent TEXT;
    month BIGINT;
    made INTEGER := 0;
BEGIN
    FOREACH parent IN ARRAY ARRAY['events', 'presence_intervals', 'fee_lines'] LOOP
        month := wardwatch_month_start(greatest(from_ms, wardwatch_partition_floor()));
        WHILE month <= to_ms AND month < wardwatch_partition_ceiling() LOOP
            IF to_regclass(parent || to_char(to_timestamp(month / 1000.0) AT TIME ZONE 'Asia/Shanghai',
                                             '"_y"YYYY"m"MM')) IS NULL THEN
                PERFORM wardwatch_month_partition(parent, month);
                made := made + 1;
            END IF;
            month := wardwatch_next_month_start(month);
        END LOOP;
    END LOOP;
    RETURN made;
END
$$;

-- A partition for every month inside the window with rows in a default partition, the rows moved into it.
-- Returns how many partitions it made.
CREATE FUNCTION wardwatch_fold_default_partitions() RETURNS INTEGER LANGUAGE plpgsql AS $$
DECLARE
    parent TEXT;
    month BIGINT;
    made INTEGER := 0;
BEGIN
    FOREACH parent IN ARRAY ARRAY['events', 'presence_intervals', 'fee_lines'] LOOP
        FOR month IN EXECUTE format('SELECT DISTINCT wardwatch_month_start(%I) FROM %I WHERE %I >= $1 AND %I < $2',
                                    wardwatch_partition_key(parent), parent || '_default',
                                    wardwatch_partition_key(parent), wardwatch_partition_key(parent))
                     USING wardwatch_partition_floor(), wardwatch_partition_ceiling() LOOP
            PERFORM wardwatch_month_partition(parent, month);
            made := made + 1;
        END LOOP;
    END LOOP;
    RETURN made;
END
$$;

-- Keys of the rows the old tables hold.
CREATE TABLE event_keys (
    event_id  TEXT PRIMARY KEY,
    device_id TEXT NOT NULL,
    seq       BIGINT NOT NULL,
    UNIQUE (device_id, seq)
);
INSERT INTO event_keys SELECT event_id, device_id, seq FROM events;

CREATE TABLE presence_interval_keys (
    interval_id TEXT PRIMARY KEY
);
INSERT INTO presence_interval_keys SELECT interval_id FROM presence_intervals;

CREATE TABLE fee_line_keys (
    feedetl_sn TEXT PRIMARY KEY
);
INSERT INTO fee_line_keys SELECT feedetl_sn FROM fee_lines;

-- The partitioned tables, with the old ones' columns in the same order, then their rows.
ALTER TABLE events RENAME TO events_unpartitioned;
ALTER TABLE presence_intervals RENAME TO presence_intervals_unpartitioned;
ALTER TABLE fee_lines RENAME TO fee_lines_unpartitioned;

CREATE TABLE events (LIKE events_unpartitioned INCLUDING DEFAULTS) PARTITION BY RANGE (sent_at_ms);
CREATE TABLE presence_intervals (LIKE presence_intervals_unpartitioned INCLUDING DEFAULTS)
    PARTITION BY RANGE (start_ms);
CREATE TABLE fee_lines (LIKE fee_lines_unpartitioned INCLUDING DEFAULTS) PARTITION BY RANGE (fee_ocur_time_ms);
CREATE TABLE events_default PARTITION OF events DEFAULT;
CREATE TABLE presence_intervals_default PARTITION OF presence_intervals DEFAULT;
CREATE TABLE fee_lines_default PARTITION OF fee_lines DEFAULT;

INSERT INTO events SELECT * FROM events_unpartitioned;
INSERT INTO presence_intervals SELECT * FROM presence_intervals_unpartitioned;
INSERT INTO fee_lines SELECT * FROM fee_lines_unpartitioned;
DROP TABLE events_unpartitioned;
DROP TABLE presence_intervals_unpartitioned;
DROP TABLE fee_lines_unpartitioned;

-- The old indexes, each now per partition. Primary keys carry the partition key (PostgreSQL's rule);
-- the key tables keep the ids unique. events_by_institution_time (0014) duplicated events_by_institution
-- (0019) column for column and is not made again.
ALTER TABLE events ADD PRIMARY KEY (event_id, sent_at_ms);
CREATE UNIQUE INDEX events_by_device_seq ON events (device_id, seq, sent_at_ms);
CREATE INDEX events_by_institution ON events (institution_code, sent_at_ms);
CREATE INDEX events_camera_by_institution ON events (institution_code, sent_at_ms) WHERE kind = 'camera';

ALTER TABLE presence_intervals ADD PRIMARY KEY (interval_id, start_ms);
CREATE INDEX presence_by_person ON presence_intervals (psn_no, start_ms);
CREATE INDEX presence_by_institution ON presence_intervals (institution_code, start_ms);
CREATE INDEX presence_open ON presence_intervals (institution_code) WHERE is_open = 1;

ALTER TABLE fee_lines ADD PRIMARY KEY (feedetl_sn, fee_ocur_time_ms);
CREATE INDEX fee_lines_by_mdtrt ON fee_lines (mdtrt_id);
CREATE INDEX fee_lines_by_person ON fee_lines (psn_no, fee_ocur_time_ms);
CREATE INDEX fee_lines_by_institution ON fee_lines (fixmedins_code, fee_ocur_time_ms);
CREATE INDEX fee_lines_by_refunded_line ON fee_lines (init_feedetl_sn);
CREATE INDEX fee_lines_by_item ON fee_lines (hilist_code, fee_ocur_time_ms);

-- The months the moved rows fall in get their partitions (out of the defaults), and the months around now.
SELECT wardwatch_fold_default_partitions();
SELECT wardwatch_month_partitions(
    (EXTRACT(EPOCH FROM now() - INTERVAL '1 month') * 1000)::BIGINT,
    (EXTRACT(EPOCH FROM now() + INTERVAL '2 months') * 1000)::BIGINT
);

-- Claiming keys on insert: the row is skipped when its key is taken (ON CONFLICT DO NOTHING, as before).
CREATE FUNCTION wardwatch_claim_event_key() RETURNS TRIGGER LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO event_keys (event_id, device_id, seq) VALUES (NEW.event_id, NEW.device_id, NEW.seq)
        ON CONFLICT DO NOTHING;
    IF FOUND THEN
        RETURN NEW;
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER events_claim_key BEFORE INSERT ON events
    FOR EACH ROW EXECUTE FUNCTION wardwatch_claim_event_key();

CREATE FUNCTION wardwatch_claim_fee_line_key() RETURNS TRIGGER LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO fee_line_keys (feedetl_sn) VALUES (NEW.feedetl_sn) ON CONFLICT DO NOTHING;
    IF FOUND THEN
        RETURN NEW;
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER fee_lines_claim_key BEFORE INSERT ON fee_lines
    FOR EACH ROW EXECUTE FUNCTION wardwatch_claim_fee_line_key();

-- Releasing keys on delete: the trigger's arguments name the key table and its key column.
CREATE FUNCTION wardwatch_release_keys() RETURNS TRIGGER LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format('DELETE FROM %I k USING gone WHERE k.%I = gone.%I', TG_ARGV[0], TG_ARGV[1], TG_ARGV[1]);
    RETURN NULL;
END
$$;
CREATE TRIGGER events_release_keys AFTER DELETE ON events REFERENCING OLD TABLE AS gone
    FOR EACH STATEMENT EXECUTE FUNCTION wardwatch_release_keys('event_keys', 'event_id');
CREATE TRIGGER presence_intervals_release_keys AFTER DELETE ON presence_intervals REFERENCING OLD TABLE AS gone
    FOR EACH STATEMENT EXECUTE FUNCTION wardwatch_release_keys('presence_interval_keys', 'interval_id');
CREATE TRIGGER fee_lines_release_keys AFTER DELETE ON fee_lines REFERENCING OLD TABLE AS gone
    FOR EACH STATEMENT EXECUTE FUNCTION wardwatch_release_keys('fee_line_keys', 'feedetl_sn');
