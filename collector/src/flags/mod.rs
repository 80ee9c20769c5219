//! Flags and the auditors' review workflow (the policy's 初审 → 下发 → 申诉 → 复审 → 合议 → 处理 → 完结).
//!
//! A flag travels: a rule raises it ([`store::NewFlag`], idempotent on its finding) → auditors and the
//! institution move it through [`workflow`] (a pure state machine deciding what is legal, for whom) →
//! [`store`] applies each allowed transition in one transaction and appends it to the append-only
//! `flag_events` audit log; recovering money marks the fee lines so nothing is recovered twice.

pub mod attachments;
pub mod query;
pub mod store;
pub mod visibility;
pub mod workflow;
