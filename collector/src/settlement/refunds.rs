//! Refunds netted into the lines they refund, with no database: what is still claimed once the
//! refunds (冲销, lines with a negative `cnt`) are taken off the billed lines. The rules judge the
//! claims this gives, never the raw lines.
//!
//! - A refund that names its line (`init_feedetl_sn`, 原费用流水号) takes its units and amount off
//!   that line, provided the named line is in the lines given, is a billed line (positive `cnt`) and
//!   is for the same patient, the same item and (when both say) the same institution. Otherwise it is
//!   reported unmatched, with the reason: a link is never replaced by a guess.
//! - A refund without a link is matched: the latest billed line at or before it of the same patient,
//!   item and institution (an unknown institution matches only an unknown one) with units left, on the
//!   same local day first, else in the same local calendar month. Such a refund is reported as
//!   *matched*, not linked.
//! - Linked refunds are applied first, then the unlinked ones in time order.
//! - A refund larger than what its line has left takes what is left; the excess is reported.
//! - A line refunded in full and its refunds give no claim; a partly refunded line is claimed with its
//!   net units and net amount. A refund line is never a claim.
//! - A link on a billed line (non-negative `cnt`) is ignored and reported: that line is claimed as
//!   billed.
//!
//! The caller gives a window of lines; a refund whose line is outside it is reported (for a link: as
//! naming a line not given), so a window should reach back far enough for the refunds it holds.

use super::record::FeeLine;
use chrono::{Datelike, NaiveDate, TimeZone};
use chrono_tz::Tz;
use std::collections::HashMap;

/// Units below this are none (`cnt` is a decimal: 0.1 + 0.2 must net to 0.3).
const EPSILON: f64 = 1e-6;

/// One fee line as the netting needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct ClaimLine {
    /// The line's serial number (费用明细流水号).
    pub feedetl_sn: String,
    /// The patient.
    pub psn_no: String,
    /// The item (医保目录编码).
    pub hilist_code: String,
    /// The institution: the line's own, else its settlement's; `None` when neither is known.
    pub fixmedins_code: Option<String>,
    /// When the fee occurred (UTC epoch ms).
    pub at_ms: i64,
    /// Units; negative for a refund.
    pub cnt: f64,
    /// The line's amount in fen; negative for a refund.
    pub amount_fen: i64,
    /// For a refund: the line it refunds.
    pub init_feedetl_sn: Option<String>,
}

impl From<&FeeLine> for ClaimLine {
    fn from(line: &FeeLine) -> Self {
        ClaimLine {
            feedetl_sn: line.feedetl_sn.clone(),
            psn_no: line.psn_no.clone(),
            hilist_code: line.hilist_code.clone(),
            fixmedins_code: line.fixmedins_code.clone(),
            at_ms: line.fee_ocur_time_ms,
            cnt: line.cnt,
            amount_fen: line.det_item_fee_sumamt_fen,
            init_feedetl_sn: line.init_feedetl_sn.clone(),
        }
    }
}

/// A billed line still claimed after its refunds.
#[derive(Debug, Clone, PartialEq)]
pub struct NetClaim {
    /// The billed line.
    pub line: ClaimLine,
    /// Units left (`line.cnt` when nothing was refunded).
    pub net_cnt: f64,
    /// Amount left in fen (`line.amount_fen` when nothing was refunded).
    pub net_fen: i64,
    /// The refunds taken off it (their `feedetl_sn`), in the order applied.
    pub refunded_by: Vec<String>,
}

impl NetClaim {
    /// True when some of the line was refunded.
    pub fn is_partly_refunded(&self) -> bool {
        !self.refunded_by.is_empty()
    }
}

/// How a refund found its line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefundMatch {
    /// By its `init_feedetl_sn`.
    Linked,
    /// No link: the latest earlier line of the patient, item and institution on the same local day.
    MatchedSameDay,
    /// No link: the latest earlier line of the patient, item and institution in the same local month.
    MatchedSameMonth,
}

/// A refund taken off a billed line.
#[derive(Debug, Clone, PartialEq)]
pub struct AppliedRefund {
    /// The refund line's `feedetl_sn`.
    pub refund: String,
    /// The billed line it was taken off.
    pub original: String,
    /// Linked or matched.
    pub how: RefundMatch,
    /// Units taken off (positive).
    pub cnt: f64,
    /// Amount taken off in fen (positive).
    pub amount_fen: i64,
    /// Units of the refund beyond what the line had left (0 normally; reported, not applied elsewhere).
    pub excess_cnt: f64,
}

/// Why a refund was taken off no line.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Unmatched {
    /// The named line is not among the lines given (outside the window, or never imported).
    #[error("it names line {named}, which is not among the lines given")]
    LinkedLineNotGiven {
        /// The `init_feedetl_sn`.
        named: String,
    },
    /// The named line is another patient's.
    #[error("it names line {named} of patient {psn_no}, not the refund's")]
    LinkedLineOfAnotherPatient {
        /// The `init_feedetl_sn`.
        named: String,
        /// The named line's patient.
        psn_no: String,
    },
    /// The named line bills another item.
    #[error("it names line {named} for item {hilist_code}, not the refund's")]
    LinkedLineOfAnotherItem {
        /// The `init_feedetl_sn`.
        named: String,
        /// The named line's item.
        hilist_code: String,
    },
    /// The named line is another institution's.
    #[error("it names line {named} of institution {fixmedins_code}, not the refund's")]
    LinkedLineOfAnotherInstitution {
        /// The `init_feedetl_sn`.
        named: String,
        /// The named line's institution.
        fixmedins_code: String,
    },
    /// The named line is not a billed line (it is a refund itself, or has no units).
    #[error("it names line {named}, which bills nothing (cnt {cnt})")]
    LinkedLineNotBilled {
        /// The `init_feedetl_sn`.
        named: String,
        /// The named line's `cnt`.
        cnt: f64,
    },
    /// The named line was already refunded in full.
    #[error("it names line {named}, which earlier refunds already took in full")]
    LinkedLineAlreadyRefunded {
        /// The `init_feedetl_sn`.
        named: String,
    },
    /// No link, and no earlier line of the patient, item and institution in the month has units left.
    #[error(
        "it names no line, and no earlier line of the same patient, item and institution in its \
         month has units left"
    )]
    NoMatchingLine,
}

/// A refund taken off no line, with the reason.
#[derive(Debug, Clone, PartialEq)]
pub struct UnmatchedRefund {
    /// The refund line's `feedetl_sn`.
    pub refund: String,
    /// Why.
    pub reason: Unmatched,
}

/// The claims left once refunds are netted, and what became of each refund.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NetClaims {
    /// Billed lines with units left, in the order given.
    pub claims: Vec<NetClaim>,
    /// Billed lines refunded in full (no claim), in the order given.
    pub fully_refunded: Vec<String>,
    /// Refunds taken off a line, in the order applied (linked ones first).
    pub applied: Vec<AppliedRefund>,
    /// Refunds taken off no line, with the reason.
    pub unmatched: Vec<UnmatchedRefund>,
    /// Billed lines (non-negative `cnt`) that carry an `init_feedetl_sn`: the link is ignored.
    pub links_on_billed_lines: Vec<String>,
}

impl NetClaims {
    /// Refunds applied by matching rather than by their link.
    pub fn matched_not_linked(&self) -> impl Iterator<Item = &AppliedRefund> {
        self.applied.iter().filter(|a| a.how != RefundMatch::Linked)
    }
}

/// A billed line being netted.
struct Open<'a> {
    line: &'a ClaimLine,
    left_cnt: f64,
    left_fen: i64,
    refunded_by: Vec<String>,
}

/// The local calendar date of an instant.
fn local_date(at_ms: i64, zone: Tz) -> Option<NaiveDate> {
    zone.timestamp_millis_opt(at_ms)
        .single()
        .map(|t| t.date_naive())
}

/// Nets the refunds among `lines` into the billed lines they refund (see the module doc); `zone` is the
/// export's zone, for "the same local day" and "the same local month".
pub fn net_claims(lines: &[ClaimLine], zone: Tz) -> NetClaims {
    let mut out = NetClaims::default();
    let mut open: Vec<Open<'_>> = Vec::new();
    let mut by_sn: HashMap<&str, usize> = HashMap::new();
    let mut refund_cnt: HashMap<&str, f64> = HashMap::new();
    let mut linked: Vec<&ClaimLine> = Vec::new();
    let mut unlinked: Vec<&ClaimLine> = Vec::new();
    for line in lines {
        if line.cnt < 0.0 {
            refund_cnt.entry(&line.feedetl_sn).or_insert(line.cnt);
            match line.init_feedetl_sn {
                Some(_) => linked.push(line),
                None => unlinked.push(line),
            }
            continue;
        }
        if line.init_feedetl_sn.is_some() {
            out.links_on_billed_lines.push(line.feedetl_sn.clone());
        }
        // A repeated serial number keeps its first line (the store's key is unique).
        by_sn.entry(&line.feedetl_sn).or_insert(open.len());
        open.push(Open {
            line,
            left_cnt: line.cnt,
            left_fen: line.amount_fen,
            refunded_by: Vec::new(),
        });
    }
    let in_time_order =
        |a: &&ClaimLine, b: &&ClaimLine| (a.at_ms, &a.feedetl_sn).cmp(&(b.at_ms, &b.feedetl_sn));
    linked.sort_by(in_time_order);
    unlinked.sort_by(in_time_order);

    for refund in linked {
        let named = refund.init_feedetl_sn.clone().unwrap_or_default();
        let reason = match by_sn.get(named.as_str()) {
            None => Some(match refund_cnt.get(named.as_str()) {
                Some(&cnt) => Unmatched::LinkedLineNotBilled { named, cnt },
                None => Unmatched::LinkedLineNotGiven { named },
            }),
            Some(&i) => {
                if let Err(reason) = check_link(refund, open[i].line) {
                    Some(reason)
                } else if open[i].left_cnt <= EPSILON {
                    Some(Unmatched::LinkedLineAlreadyRefunded { named })
                } else {
                    out.applied
                        .push(apply(&mut open[i], refund, RefundMatch::Linked));
                    None
                }
            }
        };
        if let Some(reason) = reason {
            out.unmatched.push(UnmatchedRefund {
                refund: refund.feedetl_sn.clone(),
                reason,
            });
        }
    }

    for refund in unlinked {
        match find_match(&open, refund, zone) {
            Some((i, how)) => out.applied.push(apply(&mut open[i], refund, how)),
            None => out.unmatched.push(UnmatchedRefund {
                refund: refund.feedetl_sn.clone(),
                reason: Unmatched::NoMatchingLine,
            }),
        }
    }

    for o in open {
        if o.refunded_by.is_empty() {
            out.claims.push(NetClaim {
                line: o.line.clone(),
                net_cnt: o.line.cnt,
                net_fen: o.line.amount_fen,
                refunded_by: Vec::new(),
            });
        } else if o.left_cnt <= EPSILON {
            out.fully_refunded.push(o.line.feedetl_sn.clone());
        } else {
            out.claims.push(NetClaim {
                line: o.line.clone(),
                net_cnt: o.left_cnt,
                net_fen: o.left_fen.max(0),
                refunded_by: o.refunded_by,
            });
        }
    }
    out
}

/// Whether `original`, the line `refund` names, can be the line it refunds: a billed line (positive
/// `cnt`) of the same patient and item, and of the same institution when both say. The importer refuses
/// a refund that fails this; [`net_claims`] reports it.
pub fn check_link(refund: &ClaimLine, original: &ClaimLine) -> Result<(), Unmatched> {
    let named = || original.feedetl_sn.clone();
    if original.cnt <= EPSILON {
        return Err(Unmatched::LinkedLineNotBilled {
            named: named(),
            cnt: original.cnt,
        });
    }
    if original.psn_no != refund.psn_no {
        return Err(Unmatched::LinkedLineOfAnotherPatient {
            named: named(),
            psn_no: original.psn_no.clone(),
        });
    }
    if original.hilist_code != refund.hilist_code {
        return Err(Unmatched::LinkedLineOfAnotherItem {
            named: named(),
            hilist_code: original.hilist_code.clone(),
        });
    }
    if let (Some(theirs), Some(ours)) = (&original.fixmedins_code, &refund.fixmedins_code)
        && theirs != ours
    {
        return Err(Unmatched::LinkedLineOfAnotherInstitution {
            named: named(),
            fixmedins_code: theirs.clone(),
        });
    }
    Ok(())
}

/// The billed line an unlinked refund refunds: see the module doc.
fn find_match(open: &[Open<'_>], refund: &ClaimLine, zone: Tz) -> Option<(usize, RefundMatch)> {
    let day = local_date(refund.at_ms, zone)?;
    let latest = |same_day: bool| {
        open.iter()
            .enumerate()
            .filter(|(_, o)| {
                let l = o.line;
                o.left_cnt > EPSILON
                    && l.psn_no == refund.psn_no
                    && l.hilist_code == refund.hilist_code
                    && l.fixmedins_code == refund.fixmedins_code
                    && l.at_ms <= refund.at_ms
                    && local_date(l.at_ms, zone).is_some_and(|d| {
                        if same_day {
                            d == day
                        } else {
                            (d.year(), d.month()) == (day.year(), day.month())
                        }
                    })
            })
            .max_by(|(_, a), (_, b)| {
                (a.line.at_ms, &a.line.feedetl_sn).cmp(&(b.line.at_ms, &b.line.feedetl_sn))
            })
            .map(|(i, _)| i)
    };
    latest(true)
        .map(|i| (i, RefundMatch::MatchedSameDay))
        .or_else(|| latest(false).map(|i| (i, RefundMatch::MatchedSameMonth)))
}

/// Takes a refund off a line: at most the units the line has left, and the matching share of the
/// refund's amount.
fn apply(open: &mut Open<'_>, refund: &ClaimLine, how: RefundMatch) -> AppliedRefund {
    let units = refund.cnt.abs();
    let amount = refund.amount_fen.abs();
    let taken = units.min(open.left_cnt);
    let excess_cnt = if units - taken > EPSILON {
        units - taken
    } else {
        0.0
    };
    let amount_fen = if excess_cnt == 0.0 {
        amount
    } else {
        (amount as f64 * taken / units).round() as i64
    };
    open.left_cnt -= taken;
    open.left_fen -= amount_fen;
    if open.left_cnt <= EPSILON {
        open.left_cnt = 0.0;
        open.left_fen = 0;
    }
    open.refunded_by.push(refund.feedetl_sn.clone());
    AppliedRefund {
        refund: refund.feedetl_sn.clone(),
        original: open.line.feedetl_sn.clone(),
        how,
        cnt: taken,
        amount_fen,
        excess_cnt,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ZONE: Tz = chrono_tz::Asia::Shanghai;
    const H1: &str = "H43060200175";
    const H2: &str = "H43060200999";

    /// Epoch ms of a Shanghai local time `2026-11-DD HH:MM`.
    fn at(day: u32, hour: u32, minute: u32) -> i64 {
        ZONE.with_ymd_and_hms(2026, 11, day, hour, minute, 0)
            .single()
            .expect("a local time")
            .timestamp_millis()
    }

    /// A line of 410 yuan per unit for patient P1, item REHAB, institution H1.
    fn line(sn: &str, at_ms: i64, cnt: f64) -> ClaimLine {
        ClaimLine {
            feedetl_sn: sn.into(),
            psn_no: "P1".into(),
            hilist_code: "REHAB".into(),
            fixmedins_code: Some(H1.into()),
            at_ms,
            cnt,
            amount_fen: (cnt * 41_000.0).round() as i64,
            init_feedetl_sn: None,
        }
    }

    fn refund_of(sn: &str, named: &str, at_ms: i64, cnt: f64) -> ClaimLine {
        ClaimLine {
            init_feedetl_sn: Some(named.into()),
            ..line(sn, at_ms, cnt)
        }
    }

    fn claims(net: &NetClaims) -> Vec<(&str, f64, i64)> {
        net.claims
            .iter()
            .map(|c| (c.line.feedetl_sn.as_str(), c.net_cnt, c.net_fen))
            .collect()
    }

    fn applied(net: &NetClaims) -> Vec<(&str, &str, RefundMatch)> {
        net.applied
            .iter()
            .map(|a| (a.refund.as_str(), a.original.as_str(), a.how))
            .collect()
    }

    #[test]
    fn a_linked_full_refund_and_its_line_give_no_claim() {
        let lines = [
            line("F1", at(2, 8, 0), 1.0),
            line("F2", at(2, 14, 0), 1.0),
            refund_of("R1", "F1", at(3, 9, 0), -1.0),
        ];
        let net = net_claims(&lines, ZONE);
        assert_eq!(claims(&net), [("F2", 1.0, 41_000)]);
        assert_eq!(net.fully_refunded, ["F1"]);
        assert_eq!(applied(&net), [("R1", "F1", RefundMatch::Linked)]);
        assert!(net.unmatched.is_empty());
        assert_eq!(net.matched_not_linked().count(), 0);
    }

    #[test]
    fn a_linked_partial_refund_leaves_the_net_units_and_amount() {
        // A double session (cnt 2) of which one was refunded.
        let lines = [
            line("F1", at(2, 8, 0), 2.0),
            refund_of("R1", "F1", at(2, 17, 0), -1.0),
        ];
        let net = net_claims(&lines, ZONE);
        assert_eq!(claims(&net), [("F1", 1.0, 41_000)]);
        assert_eq!(net.claims[0].refunded_by, ["R1"]);
        assert!(net.claims[0].is_partly_refunded());
        assert!(net.fully_refunded.is_empty());
    }

    #[test]
    fn two_partial_refunds_of_one_line_net_in_turn_and_the_line_then_goes() {
        let lines = [
            line("F1", at(2, 8, 0), 3.0),
            refund_of("R1", "F1", at(2, 17, 0), -1.0),
            refund_of("R2", "F1", at(4, 9, 0), -1.5),
        ];
        let net = net_claims(&lines, ZONE);
        assert_eq!(claims(&net), [("F1", 0.5, 20_500)]);
        assert_eq!(net.claims[0].refunded_by, ["R1", "R2"]);

        // A third refund takes the rest; a fourth finds nothing left.
        let mut more = lines.to_vec();
        more.push(refund_of("R3", "F1", at(5, 9, 0), -0.5));
        more.push(refund_of("R4", "F1", at(6, 9, 0), -1.0));
        let net = net_claims(&more, ZONE);
        assert!(net.claims.is_empty(), "{net:?}");
        assert_eq!(net.fully_refunded, ["F1"]);
        assert_eq!(
            net.unmatched,
            [UnmatchedRefund {
                refund: "R4".into(),
                reason: Unmatched::LinkedLineAlreadyRefunded { named: "F1".into() }
            }]
        );
    }

    #[test]
    fn a_refund_larger_than_its_line_takes_what_is_left_and_the_excess_is_reported() {
        let lines = [
            line("F1", at(2, 8, 0), 1.0),
            refund_of("R1", "F1", at(2, 9, 0), -2.0),
        ];
        let net = net_claims(&lines, ZONE);
        assert!(net.claims.is_empty());
        let a = &net.applied[0];
        assert_eq!((a.cnt, a.amount_fen, a.excess_cnt), (1.0, 41_000, 1.0));
    }

    #[test]
    fn an_unlinked_refund_is_matched_to_the_latest_earlier_line_of_its_day_and_says_so() {
        let lines = [
            line("F1", at(2, 8, 0), 1.0),
            line("F2", at(2, 14, 0), 1.0),
            // After the refund: not a candidate.
            line("F3", at(2, 18, 0), 1.0),
            line("R1", at(2, 16, 0), -1.0),
        ];
        let net = net_claims(&lines, ZONE);
        assert_eq!(applied(&net), [("R1", "F2", RefundMatch::MatchedSameDay)]);
        assert_eq!(net.matched_not_linked().count(), 1);
        assert_eq!(claims(&net), [("F1", 1.0, 41_000), ("F3", 1.0, 41_000)]);

        // Two refunds on one day take the two sessions, latest first.
        let mut two = lines.to_vec();
        two.push(line("R2", at(2, 16, 30), -1.0));
        let net = net_claims(&two, ZONE);
        assert_eq!(
            applied(&net),
            [
                ("R1", "F2", RefundMatch::MatchedSameDay),
                ("R2", "F1", RefundMatch::MatchedSameDay)
            ]
        );
        assert_eq!(claims(&net), [("F3", 1.0, 41_000)]);
    }

    #[test]
    fn an_unlinked_refund_falls_back_to_an_earlier_line_of_the_month() {
        let lines = [
            // October: another month.
            ClaimLine {
                at_ms: at(1, 8, 0) - 3 * 86_400_000,
                ..line("F0", 0, 1.0)
            },
            line("F1", at(2, 8, 0), 1.0),
            line("F2", at(5, 8, 0), 1.0),
            // Another patient, another item, another institution: never matched.
            ClaimLine {
                psn_no: "P2".into(),
                ..line("G1", at(6, 8, 0), 1.0)
            },
            ClaimLine {
                hilist_code: "OTHER".into(),
                ..line("G2", at(6, 8, 0), 1.0)
            },
            ClaimLine {
                fixmedins_code: Some(H2.into()),
                ..line("G3", at(6, 8, 0), 1.0)
            },
            ClaimLine {
                fixmedins_code: None,
                ..line("G4", at(6, 8, 0), 1.0)
            },
            line("R1", at(9, 10, 0), -1.0),
            line("R2", at(9, 11, 0), -1.0),
            line("R3", at(9, 12, 0), -1.0),
        ];
        let net = net_claims(&lines, ZONE);
        assert_eq!(
            applied(&net),
            [
                ("R1", "F2", RefundMatch::MatchedSameMonth),
                ("R2", "F1", RefundMatch::MatchedSameMonth)
            ]
        );
        assert_eq!(
            net.unmatched,
            [UnmatchedRefund {
                refund: "R3".into(),
                reason: Unmatched::NoMatchingLine
            }]
        );
        let kept: Vec<&str> = claims(&net).iter().map(|c| c.0).collect();
        assert_eq!(kept, ["F0", "G1", "G2", "G3", "G4"]);
    }

    #[test]
    fn the_local_day_is_the_exports_not_utc() {
        // 07:30 Shanghai on the 3rd is 23:30 UTC on the 2nd: F2 (the 3rd, local) is the same day.
        let lines = [
            line("F1", at(2, 20, 0), 1.0),
            line("F2", at(3, 7, 0), 1.0),
            line("R1", at(3, 7, 30), -1.0),
        ];
        let net = net_claims(&lines, ZONE);
        assert_eq!(applied(&net), [("R1", "F2", RefundMatch::MatchedSameDay)]);
    }

    #[test]
    fn linked_refunds_go_first_and_unlinked_ones_take_what_is_left() {
        let lines = [
            line("F1", at(2, 8, 0), 1.0),
            line("F2", at(2, 14, 0), 1.0),
            line("R1", at(2, 15, 0), -1.0),
            refund_of("R2", "F2", at(2, 16, 0), -1.0),
        ];
        let net = net_claims(&lines, ZONE);
        assert_eq!(
            applied(&net),
            [
                ("R2", "F2", RefundMatch::Linked),
                ("R1", "F1", RefundMatch::MatchedSameDay)
            ]
        );
        assert!(net.claims.is_empty());
    }

    #[test]
    fn a_refund_naming_a_line_of_another_patient_is_reported_and_nets_nothing() {
        let lines = [
            ClaimLine {
                psn_no: "P2".into(),
                ..line("F1", at(2, 8, 0), 1.0)
            },
            // P1's own session that day: the link is not replaced by a guess.
            line("F2", at(2, 9, 0), 1.0),
            refund_of("R1", "F1", at(2, 10, 0), -1.0),
        ];
        let net = net_claims(&lines, ZONE);
        assert_eq!(
            net.unmatched,
            [UnmatchedRefund {
                refund: "R1".into(),
                reason: Unmatched::LinkedLineOfAnotherPatient {
                    named: "F1".into(),
                    psn_no: "P2".into()
                }
            }]
        );
        assert!(net.applied.is_empty());
        assert_eq!(claims(&net), [("F1", 1.0, 41_000), ("F2", 1.0, 41_000)]);
        let text = net.unmatched[0].reason.to_string();
        assert!(text.contains("F1") && text.contains("P2"), "{text}");
    }

    #[test]
    fn a_refund_naming_another_item_institution_or_a_refund_is_reported() {
        let lines = [
            ClaimLine {
                hilist_code: "OTHER".into(),
                ..line("F1", at(2, 8, 0), 1.0)
            },
            ClaimLine {
                fixmedins_code: Some(H2.into()),
                ..line("F2", at(2, 8, 0), 1.0)
            },
            refund_of("R0", "F3", at(2, 8, 30), -1.0),
            line("F3", at(2, 8, 0), 1.0),
            refund_of("R1", "F1", at(2, 10, 0), -1.0),
            refund_of("R2", "F2", at(2, 10, 0), -1.0),
            refund_of("R3", "R0", at(2, 10, 0), -1.0),
        ];
        let net = net_claims(&lines, ZONE);
        let reasons: Vec<(&str, &Unmatched)> = net
            .unmatched
            .iter()
            .map(|u| (u.refund.as_str(), &u.reason))
            .collect();
        assert!(
            matches!(
                reasons[..],
                [
                    ("R1", Unmatched::LinkedLineOfAnotherItem { .. }),
                    ("R2", Unmatched::LinkedLineOfAnotherInstitution { .. }),
                    // A refund names a billed line, not another refund.
                    ("R3", Unmatched::LinkedLineNotBilled { .. }),
                ]
            ),
            "{reasons:?}"
        );
        assert_eq!(applied(&net), [("R0", "F3", RefundMatch::Linked)]);
    }

    #[test]
    fn a_refund_of_a_line_outside_the_window_is_reported_not_guessed() {
        // F0 (October) is outside the window; a November line of the same patient and item is not
        // taken in its place.
        let lines = [
            line("F1", at(2, 8, 0), 1.0),
            refund_of("R1", "F0", at(2, 9, 0), -1.0),
        ];
        let net = net_claims(&lines, ZONE);
        assert_eq!(
            net.unmatched,
            [UnmatchedRefund {
                refund: "R1".into(),
                reason: Unmatched::LinkedLineNotGiven { named: "F0".into() }
            }]
        );
        assert_eq!(claims(&net), [("F1", 1.0, 41_000)]);
    }

    #[test]
    fn a_link_on_a_billed_line_is_ignored_and_reported() {
        let lines = [
            line("F1", at(2, 8, 0), 1.0),
            refund_of("F2", "F1", at(2, 9, 0), 1.0),
        ];
        let net = net_claims(&lines, ZONE);
        assert_eq!(net.links_on_billed_lines, ["F2"]);
        assert_eq!(claims(&net), [("F1", 1.0, 41_000), ("F2", 1.0, 41_000)]);
    }

    #[test]
    fn a_fee_line_record_becomes_a_claim_line() {
        let fee = FeeLine {
            feedetl_sn: "R1".into(),
            mdtrt_id: "M1".into(),
            psn_no: "P1".into(),
            fee_ocur_time_ms: 7,
            hilist_code: "REHAB".into(),
            hilist_name: None,
            med_list_codg: None,
            cnt: -1.0,
            pric: 410.0,
            det_item_fee_sumamt_fen: -41_000,
            bilg_dept_codg: None,
            fixmedins_code: Some(H1.into()),
            init_feedetl_sn: Some("F1".into()),
        };
        assert_eq!(
            ClaimLine::from(&fee),
            ClaimLine {
                feedetl_sn: "R1".into(),
                at_ms: 7,
                ..refund_of("R1", "F1", 7, -1.0)
            }
        );
    }
}
