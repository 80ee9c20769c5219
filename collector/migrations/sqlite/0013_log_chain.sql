-- Tamper evidence for the two append-only logs: the audit log (`flag_events`) and the access log
-- (`access_log`). Each row now carries its place on its log's hash chain (`chain_seq`, 1, 2, …), the
-- previous row's hash (`prev_hash`) and its own (`row_hash`: SHA-256 over a canonical encoding of the
-- row, its place and `prev_hash`; collector/src/store/log_chain.rs). `log_chain_heads` holds each chain's
-- newest seq and hash; every append takes that row's lock first, so concurrent writers never fork a chain.
-- `wardwatch-collector audit verify` walks the chains; the exports publish the heads.
--
-- Rows written before this migration have no chain columns yet: the collector chains them, in id order,
-- once, at the first open after this migration (`backfilled` stays 0 until then). Until then, and only
-- for those rows, the update trigger lets their three chain columns be set, and nothing else.
ALTER TABLE flag_events ADD COLUMN chain_seq INTEGER;
ALTER TABLE flag_events ADD COLUMN prev_hash TEXT;
ALTER TABLE flag_events ADD COLUMN row_hash TEXT;
CREATE UNIQUE INDEX flag_events_by_chain_seq ON flag_events (chain_seq);

ALTER TABLE access_log ADD COLUMN chain_seq INTEGER;
ALTER TABLE access_log ADD COLUMN prev_hash TEXT;
ALTER TABLE access_log ADD COLUMN row_hash TEXT;
CREATE UNIQUE INDEX access_log_by_chain_seq ON access_log (chain_seq);

CREATE TABLE log_chain_heads (
    log        TEXT PRIMARY KEY CHECK (log IN ('audit', 'access')),
    seq        INTEGER NOT NULL,
    hash       TEXT NOT NULL,
    backfilled INTEGER NOT NULL
);
INSERT INTO log_chain_heads (log, seq, hash, backfilled) VALUES
    ('audit', 0, '0000000000000000000000000000000000000000000000000000000000000000', 0),
    ('access', 0, '0000000000000000000000000000000000000000000000000000000000000000', 0);

-- A head never disappears and never moves back.
CREATE TRIGGER log_chain_heads_no_delete BEFORE DELETE ON log_chain_heads
BEGIN SELECT RAISE(ABORT, 'log_chain_heads rows are never deleted'); END;
CREATE TRIGGER log_chain_heads_forward_only BEFORE UPDATE ON log_chain_heads
WHEN NEW.log IS NOT OLD.log OR NEW.seq < OLD.seq OR NEW.backfilled < OLD.backfilled
BEGIN SELECT RAISE(ABORT, 'log chain heads only move forward'); END;

DROP TRIGGER flag_events_no_update;
CREATE TRIGGER flag_events_no_update BEFORE UPDATE ON flag_events
WHEN OLD.row_hash IS NOT NULL
    OR (SELECT backfilled FROM log_chain_heads WHERE log = 'audit') <> 0
    OR NEW.id IS NOT OLD.id OR NEW.flag_id IS NOT OLD.flag_id OR NEW.at_ms IS NOT OLD.at_ms
    OR NEW.actor IS NOT OLD.actor OR NEW.role IS NOT OLD.role OR NEW.action IS NOT OLD.action
    OR NEW.from_state IS NOT OLD.from_state OR NEW.to_state IS NOT OLD.to_state
    OR NEW.reason IS NOT OLD.reason OR NEW.amount_fen IS NOT OLD.amount_fen
BEGIN SELECT RAISE(ABORT, 'flag_events is append-only'); END;

DROP TRIGGER access_log_no_update;
CREATE TRIGGER access_log_no_update BEFORE UPDATE ON access_log
WHEN OLD.row_hash IS NOT NULL
    OR (SELECT backfilled FROM log_chain_heads WHERE log = 'access') <> 0
    OR NEW.id IS NOT OLD.id OR NEW.at_ms IS NOT OLD.at_ms OR NEW.user_name IS NOT OLD.user_name
    OR NEW.role IS NOT OLD.role OR NEW.method IS NOT OLD.method OR NEW.path IS NOT OLD.path
    OR NEW.status IS NOT OLD.status OR NEW.flag_id IS NOT OLD.flag_id OR NEW.detail IS NOT OLD.detail
BEGIN SELECT RAISE(ABORT, 'access_log is append-only'); END;
