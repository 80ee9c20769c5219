//! The presence rules on a small ward month: a patient billed for dialysis and never seen is flagged
//! (假病人), one seen too briefly is flagged, one seen for the session is not, a refunded session is not
//! checked, and days under a camera outage or with a silent ward box are "no evidence", never flags.
//! Running the rules again raises nothing new.

use wardwatch_collector::rules::run_rules;
use wardwatch_collector::settlement::import::ImportOptions;
use wardwatch_collector::store::Store;
use wardwatch_collector::store::devices::{Device, DevicePurpose};
use wardwatch_collector::store::ingest::{ChainCache, Incoming};
use wardwatch_protocol::*;
use wardwatch_testkit::e2e::*;

pub(crate) fn ts(text: &str) -> Timestamp {
    text.parse().expect("time")
}

pub(crate) fn presence(psn: &str, start: &str, end: &str) -> Payload {
    Payload::Presence(Presence {
        interval_id: uuid::Uuid::now_v7(),
        camera_id: "cam-1".parse().expect("id"),
        ward_kind: WardKind::Haemodialysis,
        person: Person::PsnNo(psn.parse().expect("psn")),
        start: ts(start),
        end: ts(end),
        open: false,
        samples: 100,
        best_similarity: Similarity::try_from(0.8).expect("score"),
        median_similarity: Similarity::try_from(0.7).expect("score"),
        liveness: Liveness::try_from(0.95).expect("score"),
        embedding: None,
        track_liveness: None,
        seat: None,
    })
}

/// A presence interval of `psn` over the 08:00–12:00 (Beijing) session of 2026-11-`day`, sealed and
/// sent one second after it ends, as [`ingest`] takes it.
pub(crate) fn session(psn: &str, day: u32) -> (&'static str, Payload) {
    let utc = |time: &str| format!("2026-11-{day:02}T{time}.000Z");
    let sent: &'static str = Box::leak(utc("04:00:01").into_boxed_str());
    (sent, presence(psn, &utc("00:00:00"), &utc("04:00:00")))
}

pub(crate) fn camera(state: CameraState, since: &str) -> Payload {
    Payload::Camera(CameraStatus {
        camera_id: "cam-1".parse().expect("id"),
        state,
        since: ts(since),
    })
}

/// Stores signed events from one ward box, as ingest would.
pub(crate) async fn ingest(store: &Store, events: Vec<(&str, Payload)>) {
    let key = SigningKey::from_bytes(&[0x42; 32]);
    let device: DeviceId = "hd-box-1".parse().expect("id");
    let inst: InstitutionCode = "H43060200175".parse().expect("code");
    store
        .add_device(&Device {
            device_id: device.clone(),
            institution_code: inst.clone(),
            public_key: PublicKey::of(&key),
            purpose: DevicePurpose::Production,
        })
        .await
        .expect("register");
    let mut prev = Digest::GENESIS;
    let mut items = Vec::new();
    for (i, (sent_at, payload)) in events.into_iter().enumerate() {
        let mut draft = EventDraft::new(device.clone(), inst.clone(), i as u64 + 1, prev, payload);
        draft.sent_at = ts(sent_at);
        let event = draft.seal(&key);
        prev = event.hash;
        items.push(Incoming::Event {
            raw: event.to_wire(),
            event: Box::new(event),
        });
    }
    let outcome = store
        .ingest_batch(&items, &ChainCache::new())
        .await
        .expect("ingest");
    assert!(
        outcome
            .fates
            .iter()
            .all(|f| *f == wardwatch_collector::store::ingest::Fate::Stored)
    );
}

/// Writes the two exports into `dir` and imports them; every row must be accepted.
pub(crate) async fn import_month(
    store: &Store,
    dir: &std::path::Path,
    settlements: String,
    fees: String,
) {
    for (name, text) in [("settlements.csv", settlements), ("fees.csv", fees)] {
        let path = dir.join(name);
        std::fs::write(&path, text).expect("write");
        let report = store
            .import_file(&path, &ImportOptions::default(), &mut |_| {})
            .await
            .expect("import");
        assert_eq!(report.rows_bad, 0, "{:?}", report.problems);
    }
}

/// Runs the rules over November 2026 (Beijing days).
pub(crate) async fn run_november(store: &Store) -> wardwatch_collector::rules::RulesReport {
    let from = ts("2026-10-31T16:00:00.000Z").millis(); // 2026-11-01 00:00 Beijing
    let to = ts("2026-11-30T16:00:00.000Z").millis();
    run_rules(store, chrono_tz::Asia::Shanghai, from, to)
        .await
        .expect("rules")
}

pub(crate) const P: &str = "430600000000000000";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn billed_sessions_against_presence_with_coverage() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut dbs = vec![Database::sqlite(dir.path())];
    match Database::postgres().await {
        Some(pg) => dbs.push(pg),
        None => skip("rules on postgres", "WARDWATCH_TEST_PG is not set"),
    }
    for db in dbs {
        let store = db.open().await;
        // Beijing 08:00-12:00 on 2026-11-02 is 00:00-04:00 UTC.
        ingest(
            &store,
            vec![
                (
                    "2026-11-02T04:00:01.000Z",
                    presence(
                        &format!("{P}01"),
                        "2026-11-02T00:00:00.000Z",
                        "2026-11-02T04:00:00.000Z",
                    ),
                ),
                (
                    "2026-11-02T04:00:02.000Z",
                    presence(
                        &format!("{P}02"),
                        "2026-11-02T00:00:00.000Z",
                        "2026-11-02T00:30:00.000Z",
                    ),
                ),
                (
                    "2026-11-03T01:00:00.000Z",
                    camera(CameraState::Obstructed, "2026-11-03T01:00:00.000Z"),
                ),
                (
                    "2026-11-03T03:00:00.000Z",
                    camera(CameraState::Ok, "2026-11-03T03:00:00.000Z"),
                ),
            ],
        )
        .await;
        let mut settlements = String::from(
            "setl_id,mdtrt_id,psn_no,fixmedins_code,setl_time,medfee_sumamt,fund_pay_sumamt\n",
        );
        let mut fees = String::from(
            "feedetl_sn,mdtrt_id,psn_no,fee_ocur_time,hilist_code,cnt,pric,det_item_fee_sumamt\n",
        );
        // A, B, C on the 2nd; D on the 3rd (outage); E on the 4th (the box sent nothing); F refunded.
        for (who, day, cnt) in [
            ("01", "02", 1),
            ("02", "02", 1),
            ("03", "02", 1),
            ("04", "03", 1),
            ("05", "04", 1),
            ("06", "02", 1),
            ("06", "02", -1),
        ] {
            let n = fees.lines().count();
            settlements.push_str(&format!(
                "S{who},M{who},{P}{who},H43060200175,2026-11-{day} 12:30:00,410,328\n"
            ));
            fees.push_str(&format!(
                "FD{n},M{who},{P}{who},2026-11-{day} 08:00:00,EXAMPLE-311000006,{cnt},410,{}\n",
                410 * cnt
            ));
        }
        import_month(&store, dir.path(), settlements, fees).await;
        let report = run_november(&store).await;
        assert_eq!(report.checked, 5, "{report:?}");
        assert_eq!(report.raised.get("no_presence"), Some(&1), "{report:?}");
        assert_eq!(report.raised.get("short_presence"), Some(&1), "{report:?}");
        assert_eq!(report.no_evidence, 2, "{report:?}");
        let flagged: Vec<(String, String, i64)> =
            sqlx::query_as("SELECT rule_id, psn_no, amount_fen FROM flags ORDER BY rule_id")
                .fetch_all(store.pool())
                .await
                .expect("flags");
        assert_eq!(
            flagged,
            [
                ("no_presence".to_owned(), format!("{P}03"), 41_000),
                ("short_presence".to_owned(), format!("{P}02"), 41_000)
            ]
        );

        // The evidence carries what the camera saw: intervals with similarity and liveness.
        let evidence: String =
            sqlx::query_scalar("SELECT evidence FROM flags WHERE rule_id = 'short_presence'")
                .fetch_one(store.pool())
                .await
                .expect("evidence");
        let evidence: serde_json::Value = serde_json::from_str(&evidence).expect("json");
        assert_eq!(
            evidence["sightings"][0]["median_similarity"], 0.7,
            "{evidence}"
        );
        assert_eq!(evidence["sightings"][0]["liveness"], 0.95, "{evidence}");
        assert_eq!(evidence["presence_minutes"], 30.0, "{evidence}");
        let again = run_november(&store).await;
        assert!(again.raised.is_empty(), "{again:?}");
        assert_eq!(again.already_raised, 2);
        store.close().await;
        db.cleanup().await;
    }
}

/// A store whose ward box at H43060200175 saw `psn_no` through 08:00–12:00 on 2026-11-02 (Beijing).
async fn ward_alive_on_the_2nd_with(dir: &std::path::Path, psn_no: &str) -> Store {
    let store = Database::sqlite(dir).open().await;
    ingest(
        &store,
        vec![(
            "2026-11-02T04:00:01.000Z",
            presence(
                psn_no,
                "2026-11-02T00:00:00.000Z",
                "2026-11-02T04:00:00.000Z",
            ),
        )],
    )
    .await;
    store
}

/// Writes a fee-line file into `dir` and imports it; every row must be accepted.
async fn import_fee_file(store: &Store, dir: &std::path::Path, text: String) {
    let path = dir.join("fees.csv");
    std::fs::write(&path, text).expect("write");
    let report = store
        .import_file(&path, &ImportOptions::default(), &mut |_| {})
        .await
        .expect("import");
    assert_eq!(report.rows_bad, 0, "{:?}", report.problems);
}

/// A fee line names its own institution (定点医药机构编号): it is checked there even when no settlement
/// row for its encounter was imported.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fee_line_without_its_settlement_is_checked_at_its_own_institution() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = ward_alive_on_the_2nd_with(dir.path(), &format!("{P}21")).await;
    import_fee_file(
        &store,
        dir.path(),
        format!(
            "feedetl_sn,mdtrt_id,psn_no,fixmedins_code,fee_ocur_time,hilist_code,cnt,pric,det_item_fee_sumamt\n\
             FD1,M21,{P}21,H43060200175,2026-11-02 08:00:00,EXAMPLE-311000006,1,410,410\n\
             FD2,M22,{P}22,H43060200175,2026-11-02 08:00:00,EXAMPLE-311000006,1,410,410\n"
        ),
    )
    .await;
    let rules = run_november(&store).await;
    assert_eq!((rules.unlinked_lines, rules.checked), (0, 2), "{rules:?}");
    let flagged: Vec<(String, String, String)> =
        sqlx::query_as("SELECT rule_id, fixmedins_code, psn_no FROM flags")
            .fetch_all(store.pool())
            .await
            .expect("flags");
    assert_eq!(
        flagged,
        [(
            "no_presence".to_owned(),
            "H43060200175".to_owned(),
            format!("{P}22")
        )]
    );
    store.close().await;
}

/// A session refunded in full days later by a line naming it (原费用流水号) is not judged: no flag, not
/// counted as checked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_refunded_days_later_by_its_linked_refund_is_not_flagged() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = ward_alive_on_the_2nd_with(dir.path(), &format!("{P}31")).await;
    import_fee_file(
        &store,
        dir.path(),
        format!(
            "feedetl_sn,mdtrt_id,psn_no,fixmedins_code,fee_ocur_time,hilist_code,cnt,pric,det_item_fee_sumamt,init_feedetl_sn\n\
             FD1,M31,{P}31,H43060200175,2026-11-02 08:00:00,EXAMPLE-311000006,1,410,410,\n\
             FD2,M32,{P}32,H43060200175,2026-11-02 08:00:00,EXAMPLE-311000006,1,410,410,\n\
             FD3,M32,{P}32,H43060200175,2026-11-05 10:00:00,EXAMPLE-311000006,-1,410,-410,FD2\n"
        ),
    )
    .await;
    let rules = run_november(&store).await;
    assert_eq!(rules.checked, 1, "{rules:?}");
    assert!(rules.raised.is_empty(), "{rules:?}");
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn more_than_five_dialysis_sessions_in_a_week_is_flagged_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Database::sqlite(dir.path()).open().await;
    let mut settlements = String::from(
        "setl_id,mdtrt_id,psn_no,fixmedins_code,setl_time,medfee_sumamt,fund_pay_sumamt\n",
    );
    let mut fees = String::from(
        "feedetl_sn,mdtrt_id,psn_no,fee_ocur_time,hilist_code,cnt,pric,det_item_fee_sumamt\n",
    );
    // Patient 11: seven sessions Monday 2026-11-02 to Sunday 2026-11-08. Patient 12: five, plus a
    // sixth in the next ISO week.
    let mut line = 0;
    for (who, days) in [
        ("11", vec![2, 3, 4, 5, 6, 7, 8]),
        ("12", vec![2, 3, 4, 5, 6, 9]),
    ] {
        for day in days {
            line += 1;
            settlements.push_str(&format!(
                "S{line},M{line},{P}{who},H43060200175,2026-11-{day:02} 12:00:00,410,328\n"
            ));
            fees.push_str(&format!(
                "FD{line},M{line},{P}{who},2026-11-{day:02} 08:00:00,EXAMPLE-311000006,1,410,410\n"
            ));
        }
    }
    import_month(&store, dir.path(), settlements, fees).await;
    let report = run_november(&store).await;
    assert_eq!(
        report.raised.get("dialysis_over_weekly"),
        Some(&1),
        "{report:?}"
    );
    let (psn, amount): (String, i64) = sqlx::query_as(
        "SELECT psn_no, amount_fen FROM flags WHERE rule_id = 'dialysis_over_weekly'",
    )
    .fetch_one(store.pool())
    .await
    .expect("flag");
    assert_eq!(
        (psn, amount),
        (format!("{P}11"), 82_000),
        "the 6th and 7th sessions are at stake"
    );
    let again = run_november(&store).await;
    assert_eq!(again.raised.get("dialysis_over_weekly"), None);
    store.close().await;
}

/// A generated ward month with injected fraud of every kind (the `rules_month` bench runs five),
/// scored per fee line: every rule finds what was injected with few mistakes, and no flag names an
/// honest line, a refund or refunded line, or (for a line-level rule) a line an outage or a silent box
/// hid.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_generated_month_is_flagged_as_injected_and_never_under_an_outage() {
    use wardwatch_testkit::simulate::{MonthSpec, generate, load, score};
    let dir = tempfile::tempdir().expect("tempdir");
    let mut dbs = vec![Database::sqlite(dir.path())];
    match Database::postgres().await {
        Some(pg) => dbs.push(pg),
        None => skip(
            "generated month on postgres",
            "WARDWATCH_TEST_PG is not set",
        ),
    }
    let month = generate(&MonthSpec::default());
    for db in dbs {
        let store = db.open().await;
        let loaded = load(&store, &month, dir.path()).await.expect("load month");
        assert!(
            loaded.forged_stored.is_empty(),
            "forged events stored: {:?}",
            loaded.forged_stored
        );
        let (from, to) = month.window;
        run_rules(&store, chrono_tz::Asia::Shanghai, from, to)
            .await
            .expect("rules");
        let scored = score(&store, &month).await.expect("score");
        assert!(
            scored.unmonitored_flagged.is_empty(),
            "{:#?}",
            scored.unmonitored_flagged
        );
        assert!(
            scored.honest_flagged.is_empty(),
            "{:#?}",
            scored.honest_flagged
        );
        assert!(
            scored.refund_flagged.is_empty(),
            "{:#?}",
            scored.refund_flagged
        );
        for s in &scored.rules {
            if s.rule == "unmonitored_billing" {
                // 监控缺失 is off by default: counted, never flagged.
                assert_eq!(s.raised, 0, "{s:?}");
                continue;
            }
            assert!(s.expected > 0, "every rule has injected cases: {s:?}");
            assert!(s.precision() >= 0.75 && s.recall() >= 0.75, "{s:?}");
        }
        let found: u64 = scored.rules.iter().map(|s| s.found).sum();
        let expected: u64 = scored.rules.iter().map(|s| s.expected).sum();
        assert!(found * 100 >= expected * 90, "{found}/{expected}");
        store.close().await;
        db.cleanup().await;
    }
}

/// The rules base is versioned: a tuned file becomes the next version, only the rules whose thresholds
/// or enabled flag changed get a new rule version, a disabled rule raises nothing, and a bad file is
/// refused with the rule and field named, leaving the version in force untouched.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rules_base_is_versioned_per_rule() {
    use wardwatch_collector::rules::base::{DEFAULT_RULES, RulesFile};
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Database::sqlite(dir.path()).open().await;
    let first = store.rules_base().await.expect("default rules");
    assert_eq!(first.version, 1);
    assert!(first.rules.iter().all(|r| r.rule_version == 1));

    let tuned = DEFAULT_RULES
        .replace("min_share = 0.5", "min_share = 0.6")
        .replace(
            "id = \"dialysis_over_weekly\"\nname_zh = \"每周透析次数超限\"",
            "id = \"dialysis_over_weekly\"\nname_zh = \"每周透析次数超限（停用）\"",
        );
    let tuned = tuned.replacen(
        "enabled = true\nparams = { max_sessions_per_week = 5 }",
        "enabled = false\nparams = { max_sessions_per_week = 5 }",
        1,
    );
    let file = RulesFile::parse("tuned.toml", &tuned).expect("tuned rules");
    let version = store
        .import_rules(&file, "tuned.toml", &tuned)
        .await
        .expect("import");
    assert_eq!(version, 2);
    let base = store.rules_base().await.expect("rules");
    let rule_version = |id: &str| {
        base.rules
            .iter()
            .find(|r| r.definition.id == id)
            .map(|r| r.rule_version)
    };
    assert_eq!(rule_version("short_presence"), Some(2));
    assert_eq!(rule_version("dialysis_over_weekly"), Some(2));
    assert_eq!(
        rule_version("no_presence"),
        Some(1),
        "unchanged rules keep their version"
    );
    assert!(!base.set.dialysis_over_weekly.enabled);
    assert_eq!(base.set.short_presence.params.min_share, 0.6);

    let bad = DEFAULT_RULES.replace("min_lift = 3.0", "min_lift = 0.5");
    let err = RulesFile::parse("bad.toml", &bad)
        .expect_err("min_lift below 1")
        .to_string();
    assert!(
        err.contains("bad.toml") && err.contains("outage_alignment") && err.contains("min_lift"),
        "{err}"
    );
    assert_eq!(store.rules_base().await.expect("rules").version, 2);

    // Seven sessions in a week, but the rule is off: nothing is raised, and the report says so.
    let mut settlements = String::from(
        "setl_id,mdtrt_id,psn_no,fixmedins_code,setl_time,medfee_sumamt,fund_pay_sumamt\n",
    );
    let mut fees = String::from(
        "feedetl_sn,mdtrt_id,psn_no,fee_ocur_time,hilist_code,cnt,pric,det_item_fee_sumamt\n",
    );
    for day in 2..=8 {
        settlements.push_str(&format!(
            "S{day},M{day},{P}11,H43060200175,2026-11-{day:02} 12:00:00,410,328\n"
        ));
        fees.push_str(&format!(
            "FD{day},M{day},{P}11,2026-11-{day:02} 08:00:00,EXAMPLE-311000006,1,410,410\n"
        ));
    }
    import_month(&store, dir.path(), settlements, fees).await;
    let report = run_november(&store).await;
    assert_eq!(report.rules_version, 2);
    assert!(report.disabled.contains(&"dialysis_over_weekly".to_owned()));
    assert_eq!(report.raised.get("dialysis_over_weekly"), None);
    store.close().await;
}

/// Gallery import keeps every good line and reports each bad one by number: broken JSON, bytes that are
/// not UTF-8, a wrong length, a zero vector; the same embedding again changes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gallery_import_refuses_bad_lines_and_keeps_the_rest() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Database::sqlite(dir.path()).open().await;
    let line = |psn: &str, embedding: Vec<f32>| {
        serde_json::json!({"fixmedins_code": "H43060200175", "psn_no": psn, "model": "m", "embedding": embedding})
            .to_string()
    };
    let mut file = Vec::new();
    for text in [
        line("4306001", vec![1.0; 64]),
        "{not json".to_owned(),
        line("4306002", vec![1.0; 65]),
        line("4306003", vec![0.0; 64]),
        line("4306001", vec![2.0; 64]), // the same direction: the same normalised embedding
    ] {
        file.extend_from_slice(text.as_bytes());
        file.push(b'\n');
    }
    file.extend_from_slice(b"\xff\xfe not utf-8\n");
    file.extend_from_slice(line("4306004", vec![0.5; 64]).as_bytes());
    let report = store.import_gallery(file.as_slice()).await.expect("import");
    assert_eq!((report.new, report.existing), (2, 1), "{report:?}");
    let refused: Vec<u64> = report.refused.iter().map(|(n, _)| *n).collect();
    assert_eq!(refused, [2, 3, 4, 6], "{report:?}");
    assert!(
        report.refused[1].1.contains("64 values") && report.refused[3].1.contains("UTF-8"),
        "{report:?}"
    );
    assert_eq!(store.gallery().await.expect("gallery").len(), 2);
    store.close().await;
}

fn heartbeat() -> Payload {
    Payload::Health(Health {
        agent_version: "test".into(),
        spool_depth: 0,
        uptime_secs: 60,
        gallery_version: None,
        cameras: Vec::new(),
    })
}

/// UTC text of a Beijing local time on a day of November 2026.
fn beijing(day: u32, hour: u32, minute: u32) -> String {
    use chrono::TimeZone;
    chrono_tz::Asia::Shanghai
        .with_ymd_and_hms(2026, 11, day, hour, minute, 0)
        .single()
        .expect("local time")
        .with_timezone(&chrono::Utc)
        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string()
}

/// The institution that switches its ward box off on the days it bills ghost sessions: the box sends
/// heartbeats every ten minutes on the other days and nothing at all on those. The ghost sessions are
/// never a line-level fraud finding (nobody could see them: no evidence) — the institution is flagged,
/// with those lines at stake, and its coverage figure shows the blind share.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_box_switched_off_on_the_ghost_days_flags_the_institution() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Database::sqlite(dir.path()).open().await;
    let ghost_days = [3, 5, 7, 9];
    let honest_days = [2, 4, 6, 8, 10];
    let mut times = Vec::new();
    for day in 2..=10 {
        if ghost_days.contains(&day) {
            continue;
        }
        for minute in (0..24 * 60).step_by(10) {
            times.push(beijing(day, minute / 60, minute % 60));
        }
    }
    let mut events: Vec<(&str, Payload)> =
        times.iter().map(|t| (t.as_str(), heartbeat())).collect();
    // The honest patient is seen at every session.
    let seen: Vec<(String, String, String)> = honest_days
        .iter()
        .map(|&d| (beijing(d, 12, 1), beijing(d, 8, 0), beijing(d, 12, 0)))
        .collect();
    for (sealed, start, end) in &seen {
        events.push((sealed.as_str(), presence(&format!("{P}41"), start, end)));
    }
    events.sort_by(|a, b| a.0.cmp(b.0));
    ingest(&store, events).await;
    let mut fees = String::from(
        "feedetl_sn,mdtrt_id,psn_no,fixmedins_code,fee_ocur_time,hilist_code,cnt,pric,det_item_fee_sumamt\n",
    );
    for day in honest_days {
        fees.push_str(&format!(
            "H{day},MH{day},{P}41,H43060200175,2026-11-{day:02} 08:00:00,EXAMPLE-311000006,1,410,410\n"
        ));
    }
    for day in ghost_days {
        fees.push_str(&format!(
            "G{day},MG{day},{P}42,H43060200175,2026-11-{day:02} 08:00:00,EXAMPLE-311000006,1,410,410\n"
        ));
    }
    import_fee_file(&store, dir.path(), fees).await;
    let report = run_november(&store).await;
    assert_eq!(report.checked, 9, "{report:?}");
    assert_eq!(report.no_evidence, 4, "{report:?}");
    let flagged: Vec<(String, String, i64)> =
        sqlx::query_as("SELECT rule_id, fixmedins_code, amount_fen FROM flags")
            .fetch_all(store.pool())
            .await
            .expect("flags");
    assert_eq!(
        flagged,
        [(
            "outage_alignment".to_owned(),
            "H43060200175".to_owned(),
            4 * 41_000
        )],
        "{report:?}"
    );
    let lines: Vec<String> = sqlx::query_scalar(
        "SELECT l.feedetl_sn FROM flag_lines l JOIN flags f ON f.id = l.flag_id \
         WHERE f.rule_id = 'outage_alignment' ORDER BY l.feedetl_sn",
    )
    .fetch_all(store.pool())
    .await
    .expect("lines");
    assert_eq!(lines, ["G3", "G5", "G7", "G9"]);
    let coverage = &report.coverage;
    assert_eq!(coverage.len(), 1, "{coverage:?}");
    assert!(
        (coverage[0].monitored_share - 5.0 / 9.0).abs() < 0.01,
        "{coverage:?}"
    );
    store.close().await;
}

/// A photo held up to the camera through the session (liveness 0.02 over its track) is not attendance:
/// the line is flagged as a presentation attack (疑似照片/屏幕冒充) with the liveness in its evidence.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_photo_held_up_through_the_session_is_flagged_not_attendance() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Database::sqlite(dir.path()).open().await;
    let mut photo = presence(
        &format!("{P}51"),
        "2026-11-02T00:00:00.000Z",
        "2026-11-02T04:00:00.000Z",
    );
    if let Payload::Presence(p) = &mut photo {
        p.liveness = Liveness::try_from(0.02).expect("score");
    }
    ingest(
        &store,
        vec![
            ("2026-11-02T04:00:01.000Z", photo),
            (
                "2026-11-02T04:00:02.000Z",
                presence(
                    &format!("{P}52"),
                    "2026-11-02T00:00:00.000Z",
                    "2026-11-02T04:00:00.000Z",
                ),
            ),
        ],
    )
    .await;
    import_fee_file(
        &store,
        dir.path(),
        format!(
            "feedetl_sn,mdtrt_id,psn_no,fixmedins_code,fee_ocur_time,hilist_code,cnt,pric,det_item_fee_sumamt\n\
             FD1,M51,{P}51,H43060200175,2026-11-02 08:00:00,EXAMPLE-311000006,1,410,410\n\
             FD2,M52,{P}52,H43060200175,2026-11-02 08:00:00,EXAMPLE-311000006,1,410,410\n"
        ),
    )
    .await;
    let report = run_november(&store).await;
    assert_eq!(
        report.raised.get("presentation_attack"),
        Some(&1),
        "{report:?}"
    );
    assert_eq!(report.raised.len(), 1, "{report:?}");
    let (psn, evidence): (String, String) =
        sqlx::query_as("SELECT psn_no, evidence FROM flags WHERE rule_id = 'presentation_attack'")
            .fetch_one(store.pool())
            .await
            .expect("flag");
    assert_eq!(psn, format!("{P}51"));
    let evidence: serde_json::Value = serde_json::from_str(&evidence).expect("json");
    assert_eq!(
        evidence["not_live_sightings"][0]["liveness"], 0.02,
        "{evidence}"
    );
    store.close().await;
}
