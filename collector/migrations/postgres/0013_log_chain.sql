-- Tamper evidence for the two append-only logs: the audit log (`flag_events`) and the access log
-- (`access_log`). Each row now carries its place on its log's hash chain (`chain_seq`, 1, 2, …), the
-- previous row's hash (`prev_hash`) and its own (`row_hash`: SHA-256 over a canonical encoding of the
-- row, its place and `prev_hash`; collector/src/store/log_chain.rs). `log_chain_heads` holds each chain's
-- newest seq and hash; every append takes that row's lock first (UPDATE … RETURNING), so concurrent
-- writers, in one collector or several, never fork a chain. `wardwatch-collector audit verify` walks the
-- chains; the exports publish the heads.
--
-- Rows written before this migration have no chain columns yet: the collector chains them, in id order,
-- once, at the first open after this migration (`backfilled` stays 0 until then). Until then, and only
-- for those rows, the update trigger lets their three chain columns be set, and nothing else.
--
-- TRUNCATE fires no row trigger: it is refused by statement triggers (and the chain shows it anyway).
ALTER TABLE flag_events ADD COLUMN chain_seq BIGINT;
ALTER TABLE flag_events ADD COLUMN prev_hash TEXT;
ALTER TABLE flag_events ADD COLUMN row_hash TEXT;
CREATE UNIQUE INDEX flag_events_by_chain_seq ON flag_events (chain_seq);

ALTER TABLE access_log ADD COLUMN chain_seq BIGINT;
ALTER TABLE access_log ADD COLUMN prev_hash TEXT;
ALTER TABLE access_log ADD COLUMN row_hash TEXT;
CREATE UNIQUE INDEX access_log_by_chain_seq ON access_log (chain_seq);

CREATE TABLE log_chain_heads (
    log        TEXT PRIMARY KEY CHECK (log IN ('audit', 'access')),
    seq        BIGINT NOT NULL,
    hash       TEXT NOT NULL,
    backfilled BIGINT NOT NULL
);
INSERT INTO log_chain_heads (log, seq, hash, backfilled) VALUES
    ('audit', 0, '0000000000000000000000000000000000000000000000000000000000000000', 0),
    ('access', 0, '0000000000000000000000000000000000000000000000000000000000000000', 0);

-- A head never disappears and never moves back.
CREATE FUNCTION log_chain_heads_forward_only() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND NEW.log = OLD.log AND NEW.seq >= OLD.seq
       AND NEW.backfilled >= OLD.backfilled THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'log chain heads only move forward and are never deleted';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER log_chain_heads_forward_only BEFORE UPDATE OR DELETE ON log_chain_heads
FOR EACH ROW EXECUTE FUNCTION log_chain_heads_forward_only();

CREATE OR REPLACE FUNCTION flag_events_append_only() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND OLD.row_hash IS NULL
       AND (SELECT backfilled FROM log_chain_heads WHERE log = 'audit') = 0
       AND (NEW.id, NEW.flag_id, NEW.at_ms, NEW.actor, NEW.role, NEW.action, NEW.from_state,
            NEW.to_state, NEW.reason, NEW.amount_fen)
           IS NOT DISTINCT FROM
           (OLD.id, OLD.flag_id, OLD.at_ms, OLD.actor, OLD.role, OLD.action, OLD.from_state,
            OLD.to_state, OLD.reason, OLD.amount_fen) THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'flag_events is append-only';
END;
$$ LANGUAGE plpgsql;

CREATE OR REPLACE FUNCTION access_log_append_only() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND OLD.row_hash IS NULL
       AND (SELECT backfilled FROM log_chain_heads WHERE log = 'access') = 0
       AND (NEW.id, NEW.at_ms, NEW.user_name, NEW.role, NEW.method, NEW.path, NEW.status,
            NEW.flag_id, NEW.detail)
           IS NOT DISTINCT FROM
           (OLD.id, OLD.at_ms, OLD.user_name, OLD.role, OLD.method, OLD.path, OLD.status,
            OLD.flag_id, OLD.detail) THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'access_log is append-only';
END;
$$ LANGUAGE plpgsql;

CREATE FUNCTION append_only_no_truncate() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: TRUNCATE refused', TG_TABLE_NAME;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER flag_events_no_truncate BEFORE TRUNCATE ON flag_events
FOR EACH STATEMENT EXECUTE FUNCTION append_only_no_truncate();
CREATE TRIGGER access_log_no_truncate BEFORE TRUNCATE ON access_log
FOR EACH STATEMENT EXECUTE FUNCTION append_only_no_truncate();
CREATE TRIGGER log_chain_heads_no_truncate BEFORE TRUNCATE ON log_chain_heads
FOR EACH STATEMENT EXECUTE FUNCTION append_only_no_truncate();
