//! A province-month: many groups of four institutions (two dialysis centres, a rehabilitation
//! department, a psychiatric hospital — the ward month of [`super::generate`], scaled out), each group
//! generated on its own with its own seed, institution codes and number prefixes, and streamed to disk
//! before the next one is generated, so memory stays that of one group whatever the province's size.
//!
//! Per group, what [`super::generate`] makes (its honest practice, noise, outages, refunds, injected
//! fraud and ground truth) plus `companions` lines per judged line (drugs, consumables, tests of the
//! same encounter, which the rules do not judge), and each institution's ward split over
//! `boxes_per_institution` ward boxes: a patient's presence always on the same box (by number), unknown
//! faces spread by track, the camera state changes on the first box (its camera watches the ward kind,
//! so an outage blinds the institution's ward as the truth says), heartbeats on every box. Forged and
//! test-mode events are left out of the stored rows: ingest's time and source checks quarantine every
//! one of them (the `rules_month` bench shows it), so what the collector stores is the rest.
//!
//! Files ([`ProvinceWriter`]): `fee_lines.csv` (platform field names, one file for the province),
//! `settlements.csv`, `gallery.jsonl`, `institutions.csv` (the registry), `devices.csv`,
//! `presence.csv` (the `presence_intervals` rows as the collector stores them), `truth.csv` (per judged
//! fee line: the rules that should flag it, those left unscored, hidden fraud, monitoring, refund role;
//! a fee line not listed is a companion line, honest by construction) and `findings.csv` (the
//! institution-level findings that should be raised).

use super::{LineTruth, Month, MonthSpec, RefundRole, SimEvent, institutions};
use chrono::{Datelike, NaiveDate};
use std::fmt::Write as _;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use wardwatch_protocol::{Payload, Person};

/// How big the province is.
#[derive(Debug, Clone)]
pub struct ProvinceSpec {
    /// Seed (same seed, same province).
    pub seed: u64,
    /// Institutions (rounded up to a multiple of four: per group two dialysis centres, one
    /// rehabilitation department, one psychiatric hospital).
    pub institutions: u32,
    /// Patients in the province (split over the groups as the ward month splits them).
    pub patients: u32,
    /// The month: its first day (the month runs to the end of that calendar month).
    pub month: NaiveDate,
    /// Ward boxes per institution.
    pub boxes_per_institution: u32,
    /// Lines billed beside each judged line on its encounter.
    pub companions: u32,
}

impl Default for ProvinceSpec {
    fn default() -> Self {
        ProvinceSpec {
            seed: 2026,
            institutions: 600,
            patients: 60_000,
            month: NaiveDate::from_ymd_opt(2026, 11, 1).unwrap_or_default(),
            boxes_per_institution: 4,
            companions: 8,
        }
    }
}

impl ProvinceSpec {
    /// Groups of four institutions.
    pub fn groups(&self) -> u32 {
        self.institutions.div_ceil(4).max(1)
    }

    /// Days of the month.
    pub fn days(&self) -> u32 {
        let first = self.month.with_day(1).unwrap_or(self.month);
        let next = first
            .checked_add_months(chrono::Months::new(1))
            .unwrap_or(first);
        (next - first).num_days().max(1) as u32
    }

    /// The ward month of group `g` (0-based; stored as group `g + 1`, so no code or number is the
    /// single month's).
    pub fn month_spec(&self, g: u32) -> MonthSpec {
        let per_group = (self.patients / self.groups()).max(8);
        // The ward month's split: 40 + 40 dialysis, 40 rehabilitation, 30 psychiatric of 150.
        let dialysis = (per_group * 40 / 150).max(2);
        let rehab = (per_group * 40 / 150).max(2);
        let psych = per_group.saturating_sub(2 * dialysis + rehab).max(2);
        MonthSpec {
            seed: self.seed.wrapping_mul(1_000_003).wrapping_add(u64::from(g)),
            start: self.month.with_day(1).unwrap_or(self.month),
            days: self.days(),
            dialysis_patients: dialysis,
            rehab_patients: rehab,
            psych_patients: psych,
            group: g + 1,
            companions: self.companions,
            ..MonthSpec::default()
        }
    }
}

/// One ward box of a group and the events it sealed that the collector stores, in chain order.
#[derive(Debug)]
pub struct WardBox<'m> {
    /// Its id.
    pub device_id: String,
    /// Its institution.
    pub institution: String,
    /// What it sealed.
    pub events: Vec<&'m SimEvent>,
}

/// FNV-1a: stable across runs and platforms.
fn fnv(key: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in key.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    h
}

fn spread(key: &str, boxes: u32) -> usize {
    (fnv(key) % u64::from(boxes.max(1))) as usize
}

/// A stored row's id for the `seq`-th event of a box: the same for the same province (the
/// generator's own interval ids are random v7 UUIDs).
pub fn row_id(device_id: &str, seq: u64) -> uuid::Uuid {
    uuid::Uuid::from_u64_pair(fnv(device_id), seq)
}

/// Splits each institution's events over its ward boxes (see the module doc); forged and test-mode
/// events are left out.
pub fn ward_boxes(month: &Month, boxes_per_institution: u32) -> Vec<WardBox<'_>> {
    let k = boxes_per_institution.max(1);
    let mut out = Vec::new();
    for (inst, events) in &month.events {
        let first = out.len();
        for b in 0..k {
            out.push(WardBox {
                device_id: format!("box-{}-{}", &inst[1..], b + 1),
                institution: inst.clone(),
                events: Vec::new(),
            });
        }
        for e in events.iter().filter(|e| e.forged.is_none() && !e.test_mode) {
            match &e.payload {
                Payload::Health(_) => {
                    for b in 0..k as usize {
                        out[first + b].events.push(e);
                    }
                }
                Payload::Presence(p) => {
                    let key = match &p.person {
                        Person::PsnNo(psn) => psn.as_str().to_owned(),
                        Person::UnknownTrack(track) => track.as_str().to_owned(),
                    };
                    out[first + spread(&key, k)].events.push(e);
                }
                _ => out[first].events.push(e),
            }
        }
    }
    out
}

fn joined(set: &std::collections::BTreeSet<String>) -> String {
    set.iter().cloned().collect::<Vec<_>>().join(";")
}

/// One truth row (see the module doc).
pub fn truth_row(t: &LineTruth) -> String {
    let monitoring = match t.monitoring {
        super::Monitoring::Full => "full".to_owned(),
        super::Monitoring::Partly(share) => format!("{share:.3}"),
        super::Monitoring::Hidden => "hidden".to_owned(),
    };
    let refund = match t.refund {
        None => "",
        Some(RefundRole::Refund) => "refund",
        Some(RefundRole::FullyRefunded) => "fully_refunded",
        Some(RefundRole::PartlyRefunded) => "partly_refunded",
    };
    format!(
        "{},{},{},{},{},{},{},{},{},{monitoring},{refund}",
        t.feedetl_sn,
        t.institution,
        t.psn_no,
        t.date,
        t.hilist_code,
        t.cnt,
        joined(&t.expected),
        joined(&t.unscored),
        joined(&t.hidden_fraud),
    )
}

/// What was written.
#[derive(Debug, Default, Clone)]
pub struct Written {
    /// Groups.
    pub groups: u64,
    /// Institutions.
    pub institutions: u64,
    /// Ward boxes.
    pub boxes: u64,
    /// Fee lines (judged, refunds and companions).
    pub fee_lines: u64,
    /// Settlements.
    pub settlements: u64,
    /// Presence intervals.
    pub presence: u64,
    /// Other stored events (heartbeats, camera states).
    pub other_events: u64,
    /// Enrolments.
    pub enrolments: u64,
    /// Truth rows (judged lines).
    pub truth_rows: u64,
}

/// The province's files, written group by group.
pub struct ProvinceWriter {
    fee_lines: BufWriter<File>,
    settlements: BufWriter<File>,
    gallery: BufWriter<File>,
    institutions: BufWriter<File>,
    devices: BufWriter<File>,
    presence: BufWriter<File>,
    truth: BufWriter<File>,
    findings: BufWriter<File>,
    /// Counts so far.
    pub written: Written,
}

const FEE_HEADER: &str = "feedetl_sn,mdtrt_id,psn_no,fee_ocur_time,hilist_code,hilist_name,cnt,pric,det_item_fee_sumamt,fixmedins_code,init_feedetl_sn";
/// `presence.csv`'s header: the `presence_intervals` columns.
pub const PRESENCE_HEADER: &str = "interval_id,device_id,institution_code,camera_id,ward_kind,psn_no,track_id,start_ms,end_ms,is_open,samples,best_similarity,median_similarity,liveness,seq,event_id,seat";

/// The `presence_intervals` columns [`load_group`] fills: `presence.csv`'s, and the unknown faces'
/// embeddings and the track-level liveness summaries (left out of the CSV for their size), as ingest
/// stores them.
const LOADED_PRESENCE_COLUMNS: &str = "embedding,track_liveness";

impl ProvinceWriter {
    /// Creates the files in `dir` (which must exist), with their headers.
    pub fn create(dir: &Path) -> std::io::Result<ProvinceWriter> {
        let open = |name: &str, header: &str| -> std::io::Result<BufWriter<File>> {
            let mut w = BufWriter::with_capacity(1 << 20, File::create(dir.join(name))?);
            writeln!(w, "{header}")?;
            Ok(w)
        };
        Ok(ProvinceWriter {
            fee_lines: open("fee_lines.csv", FEE_HEADER)?,
            settlements: open(
                "settlements.csv",
                "setl_id,mdtrt_id,psn_no,psn_name,fixmedins_code,med_type,setl_time,medfee_sumamt,fund_pay_sumamt,adm_time,dscg_time",
            )?,
            gallery: BufWriter::with_capacity(1 << 20, File::create(dir.join("gallery.jsonl"))?),
            institutions: open(
                "institutions.csv",
                "fixmedins_code,fixmedins_name,category,admdvs,region_name",
            )?,
            devices: open("devices.csv", "device_id,institution_code")?,
            presence: open("presence.csv", PRESENCE_HEADER)?,
            truth: open(
                "truth.csv",
                "feedetl_sn,fixmedins_code,psn_no,date,hilist_code,cnt,expected,unscored,hidden_fraud,monitoring,refund",
            )?,
            findings: open("findings.csv", "rule,fixmedins_code,psn_no")?,
            written: Written::default(),
        })
    }

    /// Appends one generated group.
    pub fn write_group(
        &mut self,
        spec: &MonthSpec,
        month: &Month,
        boxes_per_institution: u32,
    ) -> std::io::Result<()> {
        for file in &month.files {
            // Every file of a group has one header row; the fee-line files share their column order
            // (one of them in Chinese), so the province's one file keeps the platform names.
            let body = file.text.split_once('\n').map_or("", |(_, rest)| rest);
            let rows = body.lines().count() as u64;
            if file.name.starts_with("fee_lines") {
                self.fee_lines.write_all(body.as_bytes())?;
                self.written.fee_lines += rows;
            } else {
                self.settlements.write_all(body.as_bytes())?;
                self.written.settlements += rows;
            }
        }
        self.gallery.write_all(month.gallery_jsonl.as_bytes())?;
        self.written.enrolments += month.gallery_jsonl.lines().count() as u64;
        let names = ["透析中心", "透析中心", "康复医学科", "精神专科医院"];
        let categories = ["二级医院", "一级医院", "三级医院", "专科医院"];
        for (n, (code, _)) in institutions(spec.group).iter().enumerate() {
            writeln!(
                self.institutions,
                "{code},第{}组{},{},{},",
                spec.group,
                names[n],
                categories[n],
                &code[1..7]
            )?;
            self.written.institutions += 1;
        }
        for wb in ward_boxes(month, boxes_per_institution) {
            writeln!(self.devices, "{},{}", wb.device_id, wb.institution)?;
            self.written.boxes += 1;
            for (seq, e) in wb.events.iter().enumerate() {
                let Payload::Presence(p) = &e.payload else {
                    self.written.other_events += 1;
                    continue;
                };
                let (psn, track) = match &p.person {
                    Person::PsnNo(psn) => (psn.as_str(), ""),
                    Person::UnknownTrack(t) => ("", t.as_str()),
                };
                writeln!(
                    self.presence,
                    "{},{},{},{},{},{psn},{track},{},{},0,{},{},{},{},{},,{}",
                    row_id(&wb.device_id, seq as u64 + 1),
                    wb.device_id,
                    wb.institution,
                    p.camera_id,
                    p.ward_kind.as_str(),
                    p.start.millis(),
                    p.end.millis(),
                    p.samples,
                    p.best_similarity.get(),
                    p.median_similarity.get(),
                    p.liveness.get(),
                    seq + 1,
                    p.seat.as_ref().map_or("", |seat| seat.as_str()),
                )?;
                self.written.presence += 1;
            }
        }
        let mut rows = String::new();
        for t in &month.lines {
            let _ = writeln!(rows, "{}", truth_row(t));
        }
        self.truth.write_all(rows.as_bytes())?;
        self.written.truth_rows += month.lines.len() as u64;
        for f in &month.findings {
            writeln!(self.findings, "{},{},{}", f.rule, f.institution, f.psn_no)?;
        }
        self.written.groups += 1;
        Ok(())
    }

    /// Flushes every file.
    pub fn finish(mut self) -> std::io::Result<Written> {
        for w in [
            &mut self.fee_lines,
            &mut self.settlements,
            &mut self.gallery,
            &mut self.institutions,
            &mut self.devices,
            &mut self.presence,
            &mut self.truth,
            &mut self.findings,
        ] {
            w.flush()?;
        }
        Ok(self.written)
    }
}

/// One value of a row written by [`insert_rows`].
#[derive(Debug, Clone)]
pub enum Cell {
    /// An integer.
    Int(i64),
    /// A float.
    Real(f64),
    /// Text.
    Text(String),
    /// NULL (a text column).
    Null,
}

/// Inserts `rows` into `table` (`columns`) with multi-row INSERTs, `per_statement` rows each, in one
/// transaction per call.
pub async fn insert_rows(
    pool: &sqlx::AnyPool,
    table: &str,
    columns: &[&str],
    rows: &[Vec<Cell>],
    per_statement: usize,
) -> Result<(), sqlx::Error> {
    let mut tx = pool.begin().await?;
    for chunk in rows.chunks(per_statement.max(1)) {
        let mut sql = format!("INSERT INTO {table} ({}) VALUES ", columns.join(", "));
        let mut n = 0;
        for (r, _) in chunk.iter().enumerate() {
            if r > 0 {
                sql.push_str(", ");
            }
            sql.push('(');
            for c in 0..columns.len() {
                if c > 0 {
                    sql.push_str(", ");
                }
                n += 1;
                let _ = write!(sql, "${n}");
            }
            sql.push(')');
        }
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for row in chunk {
            for cell in row {
                query = match cell {
                    Cell::Int(v) => query.bind(*v),
                    Cell::Real(v) => query.bind(*v),
                    Cell::Text(v) => query.bind(v.clone()),
                    Cell::Null => query.bind(None::<String>),
                };
            }
        }
        query.execute(&mut *tx).await?;
    }
    tx.commit().await
}

/// What [`load_group`] stored.
#[derive(Debug, Default, Clone, Copy)]
pub struct Loaded {
    /// Ward boxes registered.
    pub boxes: u64,
    /// Event rows.
    pub events: u64,
    /// Presence interval rows.
    pub presence: u64,
}

/// Stores a group's ward boxes, events and presence intervals straight into the collector's tables
/// (the rows ingest writes for them; not through MQTT and signature checks, which the ingest bench
/// measures), and its gallery through the gallery import. Camera state changes are sealed events
/// (the rules read their bodies); heartbeats' and presence events' bodies hold their payload only
/// (nothing reads them back) and their hashes are placeholders.
pub async fn load_group(
    store: &wardwatch_collector::store::Store,
    month: &Month,
    boxes_per_institution: u32,
) -> anyhow::Result<Loaded> {
    use wardwatch_collector::store::devices::{Device, DevicePurpose};
    use wardwatch_protocol::{Digest, EventDraft, SigningKey, Timestamp};
    let pool = store.pool();
    let mut loaded = Loaded::default();
    for wb in ward_boxes(month, boxes_per_institution) {
        let key = SigningKey::from_bytes(&[7; 32]);
        let device: wardwatch_protocol::DeviceId = wb.device_id.parse()?;
        let institution: wardwatch_protocol::InstitutionCode = wb.institution.parse()?;
        store
            .add_device(&Device {
                device_id: device.clone(),
                institution_code: institution.clone(),
                public_key: wardwatch_protocol::PublicKey::of(&key),
                purpose: DevicePurpose::Production,
            })
            .await?;
        let mut events = Vec::with_capacity(wb.events.len());
        let mut presence = Vec::new();
        for (i, e) in wb.events.iter().enumerate() {
            let seq = i as u64 + 1;
            let id = row_id(&wb.device_id, seq).to_string();
            let body = match &e.payload {
                Payload::Camera(_) => {
                    let mut draft = EventDraft::new(
                        device.clone(),
                        institution.clone(),
                        seq,
                        Digest::GENESIS,
                        e.payload.clone(),
                    );
                    draft.sent_at = Timestamp::from_millis(e.sent_at)
                        .ok_or_else(|| anyhow::anyhow!("time {}", e.sent_at))?;
                    String::from_utf8(draft.seal(&key).to_wire())?
                }
                other => serde_json::to_string(other)?,
            };
            events.push(vec![
                Cell::Text(id.clone()),
                Cell::Text(wb.device_id.clone()),
                Cell::Int(seq as i64),
                Cell::Text(e.payload.topic_kind().as_str().to_owned()),
                Cell::Text(wb.institution.clone()),
                Cell::Int(e.sent_at),
                Cell::Int(e.chain_at),
                Cell::Text(format!("{:064x}", seq - 1)),
                Cell::Text(format!("{seq:064x}")),
                Cell::Text(body),
            ]);
            if let Payload::Presence(p) = &e.payload {
                let (psn, track) = match &p.person {
                    Person::PsnNo(psn) => (Cell::Text(psn.as_str().to_owned()), Cell::Null),
                    Person::UnknownTrack(t) => (Cell::Null, Cell::Text(t.as_str().to_owned())),
                };
                presence.push(vec![
                    Cell::Text(id.clone()),
                    Cell::Text(wb.device_id.clone()),
                    Cell::Text(wb.institution.clone()),
                    Cell::Text(p.camera_id.to_string()),
                    Cell::Text(p.ward_kind.as_str().to_owned()),
                    psn,
                    track,
                    Cell::Int(p.start.millis()),
                    Cell::Int(p.end.millis()),
                    Cell::Int(0),
                    Cell::Int(i64::from(p.samples)),
                    Cell::Real(p.best_similarity.get()),
                    Cell::Real(p.median_similarity.get()),
                    Cell::Real(p.liveness.get()),
                    Cell::Int(seq as i64),
                    Cell::Text(id),
                    p.seat
                        .as_ref()
                        .map_or(Cell::Null, |seat| Cell::Text(seat.as_str().to_owned())),
                    p.embedding
                        .as_ref()
                        .map_or(Cell::Null, |e| Cell::Text(e.to_base64())),
                    match &p.track_liveness {
                        Some(t) => Cell::Text(serde_json::to_string(t)?),
                        None => Cell::Null,
                    },
                ]);
            }
        }
        insert_rows(
            pool,
            "events",
            &[
                "event_id",
                "device_id",
                "seq",
                "kind",
                "institution_code",
                "sent_at_ms",
                "received_at_ms",
                "prev_hash",
                "hash",
                "body",
            ],
            &events,
            500,
        )
        .await?;
        insert_rows(
            pool,
            "presence_intervals",
            &PRESENCE_HEADER
                .split(',')
                .chain(LOADED_PRESENCE_COLUMNS.split(','))
                .collect::<Vec<_>>(),
            &presence,
            400,
        )
        .await?;
        let n = events.len() as i64;
        insert_rows(
            pool,
            "device_state",
            &["device_id", "contiguous_seq", "max_seq", "duplicates"],
            &[vec![
                Cell::Text(wb.device_id.clone()),
                Cell::Int(n),
                Cell::Int(n),
                Cell::Int(0),
            ]],
            1,
        )
        .await?;
        loaded.boxes += 1;
        loaded.events += events.len() as u64;
        loaded.presence += presence.len() as u64;
    }
    super::load::load_gallery(store, month).await?;
    Ok(loaded)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::simulate::generate;

    fn write(dir: &Path, spec: &ProvinceSpec) -> Written {
        std::fs::create_dir_all(dir).expect("dir");
        let mut writer = ProvinceWriter::create(dir).expect("create");
        for g in 0..spec.groups() {
            let month_spec = spec.month_spec(g);
            let month = generate(&month_spec);
            writer
                .write_group(&month_spec, &month, spec.boxes_per_institution)
                .expect("write");
        }
        writer.finish().expect("finish")
    }

    #[test]
    fn a_small_province_is_the_same_for_the_same_seed_and_counts_add_up() {
        let spec = ProvinceSpec {
            institutions: 8,
            patients: 200,
            companions: 3,
            boxes_per_institution: 3,
            ..ProvinceSpec::default()
        };
        let root = std::env::temp_dir().join(format!("ww-province-{}", std::process::id()));
        let (a, b, c) = (root.join("a"), root.join("b"), root.join("c"));
        let written = write(&a, &spec);
        write(&b, &spec);
        write(
            &c,
            &ProvinceSpec {
                seed: spec.seed + 1,
                ..spec.clone()
            },
        );
        let files = [
            "fee_lines.csv",
            "settlements.csv",
            "gallery.jsonl",
            "institutions.csv",
            "devices.csv",
            "presence.csv",
            "truth.csv",
            "findings.csv",
        ];
        let read = |dir: &Path, f: &str| std::fs::read(dir.join(f)).expect(f);
        for f in files {
            assert_eq!(read(&a, f), read(&b, f), "{f} differs for the same seed");
        }
        assert_ne!(read(&a, "fee_lines.csv"), read(&c, "fee_lines.csv"));
        assert_eq!(written.groups, 2);
        assert_eq!(written.institutions, 8);
        assert_eq!(written.boxes, 8 * 3);
        // Every judged billed line (not a refund) has its companions; refunds have none.
        let truth = String::from_utf8(read(&a, "truth.csv")).expect("utf-8");
        let billed = truth
            .lines()
            .skip(1)
            .filter(|l| l.ends_with(',') && !l.split(',').nth(5).unwrap_or("-").starts_with('-'))
            .count() as u64;
        assert_eq!(written.truth_rows, truth.lines().count() as u64 - 1);
        assert_eq!(written.fee_lines, written.truth_rows + 3 * billed);
        assert!(written.presence > written.truth_rows, "{written:?}");
        let codes = String::from_utf8(read(&a, "institutions.csv")).expect("utf-8");
        assert!(codes.contains("H43060200101,") && codes.contains("H43060200204,"));
        let _ = std::fs::remove_dir_all(&root);
    }
}
