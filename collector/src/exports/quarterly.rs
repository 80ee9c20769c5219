//! The quarterly analysis (季度分析) the third-party audit asks for: the quarter's flags by institution,
//! institution category, region, rule and amount band, with each institution's settlement statistics
//! (total cost, fund payment, visits, cost per visit, average stay, growth against the previous
//! quarter). A flag belongs to the quarter it was raised in; settlements to the quarter of their
//! settlement time. Review outcomes are counted by [`FlagState::review_outcome`], as in
//! [`Store::rule_stats`].

use super::period::Quarter;
use super::table::{Column, Table, Value};
use super::{ExportError, ExportFile};
use crate::flags::workflow::{FlagState, ReviewOutcome};
use crate::institutions::{Institution, InstitutionDirectory};
use crate::store::log_chain::ChainHead;
use crate::store::{Store, StoreError};
use chrono_tz::Tz;
use serde::Serialize;
use sqlx::Row;
use std::collections::{BTreeMap, HashMap};

/// Review outcomes and amounts of a set of flags.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct FlagMetrics {
    /// Flags raised.
    pub raised: i64,
    /// Flags that stand after review (confirmed and not reversed).
    pub positive: i64,
    /// Flags excluded at first review or reversed at second review.
    pub negative: i64,
    /// Flags waiting for first review.
    pub pending: i64,
    /// The amounts at stake (fen).
    pub at_stake_fen: i64,
    /// Amounts refused (拒付, fen).
    pub refused_fen: i64,
    /// Amounts recovered (追回, fen).
    pub recovered_fen: i64,
}

impl FlagMetrics {
    fn add(&mut self, flag: &QuarterFlag) {
        self.raised += 1;
        match flag.state.review_outcome() {
            ReviewOutcome::Pending => self.pending += 1,
            ReviewOutcome::Negative => self.negative += 1,
            ReviewOutcome::Positive => self.positive += 1,
        }
        self.at_stake_fen += flag.amount_fen;
        match flag.outcome.as_deref() {
            Some("refuse_payment") => self.refused_fen += flag.outcome_amount_fen.unwrap_or(0),
            Some("recover") => self.recovered_fen += flag.outcome_amount_fen.unwrap_or(0),
            _ => {}
        }
    }

    fn merge(&mut self, other: &FlagMetrics) {
        self.raised += other.raised;
        self.positive += other.positive;
        self.negative += other.negative;
        self.pending += other.pending;
        self.at_stake_fen += other.at_stake_fen;
        self.refused_fen += other.refused_fen;
        self.recovered_fen += other.recovered_fen;
    }

    /// 阳性率: positive / (positive + negative); `None` before any review.
    pub fn positive_rate(&self) -> Option<f64> {
        let reviewed = self.positive + self.negative;
        (reviewed > 0).then(|| self.positive as f64 / reviewed as f64)
    }
}

/// An institution's settlements in the quarter.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct SettlementStats {
    /// 医疗费总额 (fen).
    pub total_cost_fen: i64,
    /// 基金支付总额 (fen).
    pub fund_pay_fen: i64,
    /// Visits: distinct `mdtrt_id`.
    pub visits: i64,
    /// Stays with admission and discharge times.
    pub stays: i64,
    /// Their length in days (discharge date − admission date, local; a same-day stay counts 1).
    pub stay_days: i64,
    /// 医疗费总额 of the previous quarter (fen).
    pub previous_total_cost_fen: i64,
}

impl SettlementStats {
    fn merge(&mut self, other: &SettlementStats) {
        self.total_cost_fen += other.total_cost_fen;
        self.fund_pay_fen += other.fund_pay_fen;
        self.visits += other.visits;
        self.stays += other.stays;
        self.stay_days += other.stay_days;
        self.previous_total_cost_fen += other.previous_total_cost_fen;
    }

    /// 次均费用: total cost per visit, rounded to the fen.
    pub fn cost_per_visit_fen(&self) -> Option<i64> {
        (self.visits > 0).then(|| {
            let (cost, visits) = (i128::from(self.total_cost_fen), i128::from(self.visits));
            i64::try_from((2 * cost + visits) / (2 * visits)).unwrap_or_default()
        })
    }

    /// 平均住院日.
    pub fn average_stay_days(&self) -> Option<f64> {
        (self.stays > 0).then(|| self.stay_days as f64 / self.stays as f64)
    }

    /// 环比增长 of the total cost against the previous quarter; `None` without a previous quarter.
    pub fn growth(&self) -> Option<f64> {
        (self.previous_total_cost_fen > 0).then(|| {
            (self.total_cost_fen - self.previous_total_cost_fen) as f64
                / self.previous_total_cost_fen as f64
        })
    }
}

/// One institution's line.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InstitutionLine {
    /// The institution (registered, or as resolved).
    pub institution: Institution,
    /// Its flags of the quarter.
    pub flags: FlagMetrics,
    /// Its settlements of the quarter.
    pub settlements: SettlementStats,
}

/// A line of a breakdown by category, region, rule or amount band.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GroupLine {
    /// The key (category, `admdvs`, rule id, band).
    pub key: String,
    /// What the key means (region name, rule name), if anything.
    pub label: String,
    /// Institutions in the group (category and region only).
    pub institutions: i64,
    /// The group's flags.
    pub flags: FlagMetrics,
}

/// The quarterly analysis.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QuarterlyReport {
    /// The quarter.
    pub quarter: Quarter,
    /// The zone of the quarter's bounds.
    pub zone: String,
    /// The quarter's totals.
    pub summary: FlagMetrics,
    /// The quarter's settlements, all institutions.
    pub settlements: SettlementStats,
    /// By institution (every institution with flags or settlements in the quarter), by code.
    pub by_institution: Vec<InstitutionLine>,
    /// By institution category.
    pub by_category: Vec<GroupLine>,
    /// By region (医保区划).
    pub by_region: Vec<GroupLine>,
    /// By rule.
    pub by_rule: Vec<GroupLine>,
    /// By amount at stake per flag: below 1,000 yuan, 1,000 to 10,000, 10,000 and more.
    pub by_amount_band: Vec<GroupLine>,
    /// The log chain heads when the report was made (published on the summary sheet).
    pub log_heads: Vec<ChainHead>,
}

/// The amount bands: (upper bound in fen, exclusive, or none; label).
const AMOUNT_BANDS: [(Option<i64>, &str); 3] = [
    (Some(100_000), "< 1,000 元 yuan"),
    (Some(1_000_000), "1,000–10,000 元 yuan"),
    (None, "≥ 10,000 元 yuan"),
];

/// A flag of the quarter, as read.
struct QuarterFlag {
    rule_id: String,
    fixmedins_code: String,
    state: FlagState,
    amount_fen: i64,
    outcome: Option<String>,
    outcome_amount_fen: Option<i64>,
}

impl Store {
    /// The quarterly analysis of `quarter` (bounds local to `zone`).
    pub async fn quarterly_report(
        &self,
        quarter: Quarter,
        zone: Tz,
    ) -> Result<QuarterlyReport, ExportError> {
        let (start, end) = quarter.bounds_ms(zone)?;
        let (previous_start, _) = quarter.previous().bounds_ms(zone)?;
        let flags = sqlx::query(
            "SELECT rule_id, fixmedins_code, state, amount_fen, outcome, outcome_amount_fen \
             FROM flags WHERE created_at_ms >= $1 AND created_at_ms < $2",
        )
        .bind(start)
        .bind(end)
        .fetch_all(self.pool())
        .await?
        .iter()
        .map(|r| {
            let state: String = r.try_get(2)?;
            Ok::<_, StoreError>(QuarterFlag {
                rule_id: r.try_get(0)?,
                fixmedins_code: r.try_get(1)?,
                state: FlagState::parse(&state).ok_or_else(|| StoreError::Corrupt {
                    what: "flag state",
                    why: format!("unknown state {state:?}"),
                })?,
                amount_fen: r.try_get(3)?,
                outcome: r.try_get(4)?,
                outcome_amount_fen: r.try_get(5)?,
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
        let mut settlements = self.settlement_totals(start, end).await?;
        for (code, previous) in self.settlement_totals(previous_start, start).await? {
            settlements.entry(code).or_default().previous_total_cost_fen = previous.total_cost_fen;
        }
        for (code, (stays, days)) in self.stays(start, end, zone).await? {
            let stats = settlements.entry(code).or_default();
            stats.stays = stays;
            stats.stay_days = days;
        }
        let directory = self.institution_directory().await?;
        let rule_names = self.rule_names().await?;
        let mut report = build_report(quarter, zone, &flags, settlements, &directory, &rule_names);
        report.log_heads = self.chain_heads().await?;
        Ok(report)
    }

    /// Per institution: total cost, fund payment and visits of settlements in `[start, end)`.
    async fn settlement_totals(
        &self,
        start: i64,
        end: i64,
    ) -> Result<BTreeMap<String, SettlementStats>, ExportError> {
        let rows = sqlx::query(
            "SELECT fixmedins_code, CAST(SUM(medfee_sumamt_fen) AS BIGINT), \
             CAST(SUM(fund_pay_sumamt_fen) AS BIGINT), COUNT(DISTINCT mdtrt_id) FROM settlements \
             WHERE setl_time_ms >= $1 AND setl_time_ms < $2 GROUP BY fixmedins_code",
        )
        .bind(start)
        .bind(end)
        .fetch_all(self.pool())
        .await?;
        Ok(rows
            .iter()
            .map(|r| {
                Ok((
                    r.try_get(0)?,
                    SettlementStats {
                        total_cost_fen: r.try_get(1)?,
                        fund_pay_fen: r.try_get(2)?,
                        visits: r.try_get(3)?,
                        ..SettlementStats::default()
                    },
                ))
            })
            .collect::<Result<_, sqlx::Error>>()?)
    }

    /// Per institution: (stays, days) of encounters settled in `[start, end)` with admission and
    /// discharge times (an encounter settled in several parts spans its first admission to its last
    /// discharge).
    async fn stays(
        &self,
        start: i64,
        end: i64,
        zone: Tz,
    ) -> Result<HashMap<String, (i64, i64)>, ExportError> {
        let rows = sqlx::query(
            "SELECT fixmedins_code, MIN(adm_time_ms), MAX(dscg_time_ms) FROM settlements \
             WHERE setl_time_ms >= $1 AND setl_time_ms < $2 \
             AND adm_time_ms IS NOT NULL AND dscg_time_ms IS NOT NULL \
             GROUP BY fixmedins_code, mdtrt_id",
        )
        .bind(start)
        .bind(end)
        .fetch_all(self.pool())
        .await?;
        let local_date = |ms: i64| {
            chrono::DateTime::from_timestamp_millis(ms).map(|t| t.with_timezone(&zone).date_naive())
        };
        let mut stays: HashMap<String, (i64, i64)> = HashMap::new();
        for r in &rows {
            let code: String = r.try_get(0)?;
            let (Some(admitted), Some(discharged)) =
                (local_date(r.try_get(1)?), local_date(r.try_get(2)?))
            else {
                continue;
            };
            let days = (discharged - admitted).num_days().max(1);
            let entry = stays.entry(code).or_default();
            entry.0 += 1;
            entry.1 += days;
        }
        Ok(stays)
    }

    /// Rule id → Chinese name, from the newest rules-base version that has the rule.
    pub async fn rule_names(&self) -> Result<HashMap<String, String>, ExportError> {
        let rows = sqlx::query(
            "SELECT d.rule_id, d.name_zh FROM rule_definitions d WHERE d.version = \
             (SELECT MAX(n.version) FROM rule_definitions n WHERE n.rule_id = d.rule_id)",
        )
        .fetch_all(self.pool())
        .await?;
        Ok(rows
            .iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect::<Result<_, sqlx::Error>>()?)
    }
}

fn build_report(
    quarter: Quarter,
    zone: Tz,
    flags: &[QuarterFlag],
    settlements: BTreeMap<String, SettlementStats>,
    directory: &InstitutionDirectory,
    rule_names: &HashMap<String, String>,
) -> QuarterlyReport {
    let mut summary = FlagMetrics::default();
    let mut by_code: BTreeMap<String, FlagMetrics> = BTreeMap::new();
    let mut by_rule: BTreeMap<String, FlagMetrics> = BTreeMap::new();
    let mut by_band = [FlagMetrics::default(); AMOUNT_BANDS.len()];
    for flag in flags {
        summary.add(flag);
        by_code
            .entry(flag.fixmedins_code.clone())
            .or_default()
            .add(flag);
        by_rule.entry(flag.rule_id.clone()).or_default().add(flag);
        let band = AMOUNT_BANDS
            .iter()
            .position(|(below, _)| below.is_none_or(|b| flag.amount_fen < b))
            .unwrap_or(AMOUNT_BANDS.len() - 1);
        by_band[band].add(flag);
    }
    let mut codes: Vec<String> = by_code.keys().chain(settlements.keys()).cloned().collect();
    codes.sort();
    codes.dedup();
    let by_institution: Vec<InstitutionLine> = codes
        .iter()
        .map(|code| InstitutionLine {
            institution: directory.resolve(code),
            flags: by_code.get(code).copied().unwrap_or_default(),
            settlements: settlements.get(code).copied().unwrap_or_default(),
        })
        .collect();
    let mut all_settlements = SettlementStats::default();
    for line in &by_institution {
        all_settlements.merge(&line.settlements);
    }
    let group = |key_of: &dyn Fn(&Institution) -> String, label_of: &dyn Fn(&str) -> String| {
        let mut groups: BTreeMap<String, (i64, FlagMetrics)> = BTreeMap::new();
        for line in &by_institution {
            let entry = groups.entry(key_of(&line.institution)).or_default();
            entry.0 += 1;
            entry.1.merge(&line.flags);
        }
        groups
            .into_iter()
            .map(|(key, (institutions, flags))| GroupLine {
                label: label_of(&key),
                key,
                institutions,
                flags,
            })
            .collect::<Vec<_>>()
    };
    let by_category = group(&|i| i.category.clone(), &|_| String::new());
    let by_region = group(&|i| i.admdvs.clone(), &|admdvs| {
        directory.region_name(admdvs).unwrap_or_default()
    });
    QuarterlyReport {
        quarter,
        zone: zone.to_string(),
        summary,
        settlements: all_settlements,
        by_institution,
        by_category,
        by_region,
        by_rule: by_rule
            .into_iter()
            .map(|(rule_id, flags)| GroupLine {
                label: rule_names
                    .get(&rule_id)
                    .cloned()
                    .unwrap_or_else(|| rule_id.clone()),
                key: rule_id,
                institutions: 0,
                flags,
            })
            .collect(),
        by_amount_band: AMOUNT_BANDS
            .iter()
            .zip(by_band)
            .map(|((_, label), flags)| GroupLine {
                key: (*label).to_owned(),
                label: String::new(),
                institutions: 0,
                flags,
            })
            .collect(),
        log_heads: Vec::new(),
    }
}

/// The metric columns every breakdown sheet has.
const METRIC_COLUMNS: [&str; 8] = [
    "疑点数 flags raised",
    "确认 confirmed",
    "排除/撤销 excluded/reversed",
    "待初审 pending",
    "涉及金额 amount at stake",
    "拒付金额 amount refused",
    "追回金额 amount recovered",
    "阳性率 positive rate",
];

fn metric_values(m: &FlagMetrics) -> [Value; 8] {
    [
        Value::Count(m.raised),
        Value::Count(m.positive),
        Value::Count(m.negative),
        Value::Count(m.pending),
        Value::Fen(m.at_stake_fen),
        Value::Fen(m.refused_fen),
        Value::Fen(m.recovered_fen),
        Value::ratio(m.positive_rate()),
    ]
}

fn settlement_values(s: &SettlementStats) -> [Value; 7] {
    [
        Value::Fen(s.total_cost_fen),
        Value::Fen(s.fund_pay_fen),
        Value::Count(s.visits),
        s.cost_per_visit_fen().map_or(Value::Empty, Value::Fen),
        s.average_stay_days().map_or(Value::Empty, Value::Decimal),
        Value::Fen(s.previous_total_cost_fen),
        Value::ratio(s.growth()),
    ]
}

const SETTLEMENT_COLUMNS: [&str; 7] = [
    "医疗费总额 total cost",
    "基金支付 fund payment",
    "就诊人次 visits",
    "次均费用 cost per visit",
    "平均住院日 average stay (days)",
    "上季度医疗费 previous quarter cost",
    "环比增长 growth",
];

fn columns(keys: &[(&str, f64)], rest: &[&str]) -> Vec<Column> {
    keys.iter()
        .map(|(header, width)| Column::new(header, *width))
        .chain(rest.iter().map(|header| Column::new(header, 14.0)))
        .collect()
}

/// A breakdown sheet: key columns, then the metric columns, and the quarter's totals.
fn group_table(
    report: &QuarterlyReport,
    sheet: &str,
    keys: &[(&str, f64)],
    lines: &[GroupLine],
    key_values: &dyn Fn(&GroupLine) -> Vec<Value>,
) -> Table {
    let total_keys = {
        let mut cells = vec![Value::Empty; keys.len()];
        cells[0] = Value::text("合计 total");
        if keys.iter().any(|(h, _)| h.contains("institutions")) {
            cells[keys.len() - 1] = Value::Count(report.by_institution.len() as i64);
        }
        cells
    };
    Table {
        sheet: sheet.into(),
        title: title(report, sheet),
        columns: columns(keys, &METRIC_COLUMNS),
        rows: lines
            .iter()
            .map(|line| {
                key_values(line)
                    .into_iter()
                    .chain(metric_values(&line.flags))
                    .collect()
            })
            .collect(),
        total: Some(
            total_keys
                .into_iter()
                .chain(metric_values(&report.summary))
                .collect(),
        ),
        footer: Vec::new(),
    }
}

fn title(report: &QuarterlyReport, sheet: &str) -> Vec<String> {
    vec![
        format!("季度分析 quarterly analysis {} — {sheet}", report.quarter),
        format!(
            "时区 time zone: {}; 疑点按生成时间归属季度 flags belong to the quarter they were raised in",
            report.zone
        ),
    ]
}

fn summary_table(report: &QuarterlyReport) -> Table {
    let m = &report.summary;
    let s = &report.settlements;
    let rows: Vec<(&str, Value)> = vec![
        ("生成疑点 flags raised", Value::Count(m.raised)),
        ("确认(复审后成立) confirmed", Value::Count(m.positive)),
        ("排除/撤销 excluded/reversed", Value::Count(m.negative)),
        ("待初审 pending", Value::Count(m.pending)),
        ("涉及金额 amount at stake", Value::Fen(m.at_stake_fen)),
        ("拒付金额 amount refused", Value::Fen(m.refused_fen)),
        ("追回金额 amount recovered", Value::Fen(m.recovered_fen)),
        ("阳性率 positive rate", Value::ratio(m.positive_rate())),
        (
            "涉及机构 institutions with flags",
            Value::Count(
                report
                    .by_institution
                    .iter()
                    .filter(|l| l.flags.raised > 0)
                    .count() as i64,
            ),
        ),
        ("医疗费总额 total cost", Value::Fen(s.total_cost_fen)),
        ("基金支付 fund payment", Value::Fen(s.fund_pay_fen)),
        ("就诊人次 visits", Value::Count(s.visits)),
        (
            "上季度医疗费 previous quarter cost",
            Value::Fen(s.previous_total_cost_fen),
        ),
        ("环比增长 growth", Value::ratio(s.growth())),
    ];
    Table {
        sheet: "汇总 Summary".into(),
        title: title(report, "汇总 Summary"),
        columns: vec![
            Column::new("指标 metric", 34.0),
            Column::new("数值 value", 18.0),
        ],
        rows: rows
            .into_iter()
            .map(|(label, value)| vec![Value::text(label), value])
            .collect(),
        total: None,
        footer: super::chain_head_rows(&report.log_heads),
    }
}

fn institution_table(report: &QuarterlyReport) -> Table {
    let keys = [
        ("定点医药机构编号 fixmedins_code", 16.0),
        ("定点医药机构名称 fixmedins_name", 24.0),
        ("机构类别 category", 16.0),
        ("医保区划 admdvs", 10.0),
        ("区划名称 region_name", 12.0),
    ];
    let sheet = "按机构 By institution";
    let mut total: Vec<Value> = vec![Value::Empty; keys.len()];
    total[0] = Value::text("合计 total");
    total.extend(metric_values(&report.summary));
    total.extend(settlement_values(&report.settlements));
    let mut rest: Vec<&str> = METRIC_COLUMNS.to_vec();
    rest.extend(SETTLEMENT_COLUMNS);
    Table {
        sheet: sheet.into(),
        title: title(report, sheet),
        columns: columns(&keys, &rest),
        rows: report
            .by_institution
            .iter()
            .map(|line| {
                let i = &line.institution;
                [
                    Value::text(&i.fixmedins_code),
                    Value::text(&i.fixmedins_name),
                    Value::text(&i.category),
                    Value::text(&i.admdvs),
                    Value::text(i.region_name.as_deref().unwrap_or("")),
                ]
                .into_iter()
                .chain(metric_values(&line.flags))
                .chain(settlement_values(&line.settlements))
                .collect()
            })
            .collect(),
        total: Some(total),
        footer: Vec::new(),
    }
}

/// The report's sheets: summary, then by institution, category, region, rule and amount band.
pub fn quarterly_tables(report: &QuarterlyReport) -> Vec<Table> {
    vec![
        summary_table(report),
        institution_table(report),
        group_table(
            report,
            "按类别 By category",
            &[("机构类别 category", 20.0), ("机构数 institutions", 10.0)],
            &report.by_category,
            &|l| vec![Value::text(&l.key), Value::Count(l.institutions)],
        ),
        group_table(
            report,
            "按区划 By region",
            &[
                ("医保区划 admdvs", 10.0),
                ("区划名称 region_name", 14.0),
                ("机构数 institutions", 10.0),
            ],
            &report.by_region,
            &|l| {
                vec![
                    Value::text(&l.key),
                    Value::text(&l.label),
                    Value::Count(l.institutions),
                ]
            },
        ),
        group_table(
            report,
            "按规则 By rule",
            &[("规则 rule_id", 20.0), ("规则名称 rule_name", 24.0)],
            &report.by_rule,
            &|l| vec![Value::text(&l.key), Value::text(&l.label)],
        ),
        group_table(
            report,
            "按金额 By amount",
            &[("涉及金额区间 amount band", 22.0)],
            &report.by_amount_band,
            &|l| vec![Value::text(&l.key)],
        ),
    ]
}

/// The workbook: `季度分析_2026-Q4.xlsx` by default.
pub fn quarterly_file(report: &QuarterlyReport) -> Result<ExportFile, ExportError> {
    Ok(ExportFile {
        name: format!("季度分析_{}.xlsx", report.quarter),
        bytes: super::table::to_xlsx(&quarterly_tables(report))?,
    })
}
