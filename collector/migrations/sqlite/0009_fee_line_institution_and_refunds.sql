-- A fee line carries its own institution (定点医药机构编号) and, for a refund (negative cnt), the line it
-- refunds (原费用流水号), as the national fee-line export gives them (SQLite). Both are nullable: older
-- exports and the rows stored before this migration lack them (the institution then comes from the
-- settlement of the same mdtrt_id; an unlinked refund is matched by the rules).
ALTER TABLE fee_lines ADD COLUMN fixmedins_code TEXT;
ALTER TABLE fee_lines ADD COLUMN init_feedetl_sn TEXT;
CREATE INDEX fee_lines_by_institution ON fee_lines (fixmedins_code, fee_ocur_time_ms);
CREATE INDEX fee_lines_by_refunded_line ON fee_lines (init_feedetl_sn);

-- What an import of fee lines found about institutions and refunds (the report's counts, JSON).
ALTER TABLE imports ADD COLUMN fee_line_checks TEXT;

