//! Settlement import: records exported from the national medical-insurance platform, in, typed.
//!
//! A file travels: [`source`] (CSV in UTF-8 or GB18030, XLSX, JSON Lines → header + rows of cells) →
//! [`columns`] (platform field names and Chinese headers → fields; settlements or fee lines? which
//! recommended columns are absent?) → [`record`] (a row → a typed record, every bad cell named) →
//! [`rows`] (a row → a record or its typed problems; also a database-free check of a whole export) →
//! [`import`] (fee lines checked against the lines their refunds name, idempotent inserts, problems
//! stored and reported, institutions and refunds counted). [`values`] holds the cell conversions (money
//! in fen, export local time → UTC).
//!
//! A fee line carries its own institution (`fixmedins_code`, 定点医药机构编号, validated as an
//! `InstitutionCode`) and, for a refund (negative `cnt`), the line it refunds (`init_feedetl_sn`,
//! 原费用流水号). Both are optional columns: a file without them still imports, with a counted
//! warning (the institution then comes from the settlement of the same `mdtrt_id`; an unlinked refund
//! is matched). [`refunds`] nets refunds into the lines they refund, with no database, for the rules.

pub mod columns;
pub mod import;
pub mod record;
pub mod refunds;
pub mod rows;
pub mod source;
pub mod values;
