//! Settlement import: records exported from the national medical-insurance platform, in, typed.
//!
//! A file travels: [`source`] (CSV in UTF-8 or GB18030, XLSX, JSON Lines → header + rows of cells) →
//! [`columns`] (platform field names and Chinese headers → fields; settlements or fee lines?) →
//! [`record`] (a row → a typed record, every bad cell named) → [`rows`] (a row → a record or its typed
//! problems; also a database-free check of a whole export) → [`import`] (idempotent inserts, problems
//! stored and reported). [`values`] holds the cell conversions (money in fen, export local time → UTC).

pub mod columns;
pub mod import;
pub mod record;
pub mod rows;
pub mod source;
pub mod values;
