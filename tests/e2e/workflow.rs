//! The review workflow on a real database (SQLite, and PostgreSQL when `WARDWATCH_TEST_PG` is set):
//! every state reached through its legal path, every other action refused without a trace, the first
//! reviewer refused the second review and the panel's decision (separation of duties), the audit log
//! append-only, and money never recovered twice.

use wardwatch_collector::flags::store::{NewFlag, TransitionError};
use wardwatch_collector::flags::workflow::{
    Action, Actor, FlagState, Refusal, Request, Role, allowed_actions,
};
use wardwatch_collector::rules::RuleId;
use wardwatch_collector::settlement::import::ImportOptions;
use wardwatch_collector::store::Store;
use wardwatch_testkit::e2e::*;

const DAY: i64 = 86_400_000;
const T0: i64 = 1_793_000_000_000;

fn auditor() -> Actor {
    Actor {
        user: "auditor-li".into(),
        role: Role::Auditor,
        institution: None,
    }
}

/// Another auditor, for the second review and the panel (separation of duties).
fn second_auditor() -> Actor {
    Actor {
        user: "auditor-wang".into(),
        ..auditor()
    }
}

fn hospital() -> Actor {
    Actor {
        user: "h-zhang".into(),
        role: Role::Institution,
        institution: Some("H43060200175".parse().expect("code")),
    }
}

fn request(action: Action, now_ms: i64) -> Request {
    Request {
        action,
        reason: format!("{} after review", action.as_str()),
        amount_fen: action.needs_amount().then_some(41_000),
        now_ms,
    }
}

async fn seed(store: &Store, dir: &std::path::Path) {
    let csv = "feedetl_sn,mdtrt_id,psn_no,fee_ocur_time,hilist_code,cnt,pric,det_item_fee_sumamt\n\
               FD1,M1,4306001,2026-11-02 08:00:00,C1,1,410,410\n\
               FD2,M2,4306001,2026-11-04 08:00:00,C1,1,410,410\n";
    let path = dir.join("fees.csv");
    std::fs::write(&path, csv).expect("write");
    store
        .import_file(&path, &ImportOptions::default(), &mut |_| {})
        .await
        .expect("import");
}

async fn raise(store: &Store, key: &str, line: &str) -> i64 {
    store
        .raise_flag(&NewFlag {
            dedup_key: key.into(),
            rule_id: RuleId::NoPresence,
            rule_version: 1,
            fixmedins_code: "H43060200175".parse().expect("code"),
            psn_no: Some("4306001".parse().expect("psn_no")),
            amount_fen: 41_000,
            evidence: serde_json::json!({"presence_minutes": 0}),
            lines: vec![line.into()],
        })
        .await
        .expect("raise")
        .expect("new flag")
}

/// Tries every action that is not legal in the flag's current state, as a suitable actor: each is
/// refused, and neither the state nor the audit log changes.
async fn illegal_actions_refused(store: &Store, id: i64, now: i64) {
    let before = store.flag(id).await.expect("flag").expect("exists");
    let history = store.flag_history(id).await.expect("history").len();
    let state = before.state;
    for action in Action::ALL {
        if allowed_actions(state).contains(&action) {
            continue;
        }
        let actor = if action == Action::Appeal {
            hospital()
        } else {
            auditor()
        };
        match store
            .transition_flag(id, &actor, &request(action, now), 10)
            .await
        {
            Err(TransitionError::Refused(Refusal::WrongState { .. })) => {}
            other => panic!("{action:?} in {state:?} should be refused as illegal, got {other:?}"),
        }
    }
    assert_eq!(store.flag(id).await.expect("flag").expect("exists"), before);
    assert_eq!(
        store.flag_history(id).await.expect("history").len(),
        history
    );
}

async fn step(store: &Store, id: i64, actor: &Actor, action: Action, now: i64, expect: FlagState) {
    let to = store
        .transition_flag(id, actor, &request(action, now), 10)
        .await
        .unwrap_or_else(|e| panic!("{action:?} refused: {e}"));
    assert_eq!(to, expect);
    illegal_actions_refused(store, id, now).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_state_every_refusal_and_an_append_only_audit_log() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut dbs = vec![Database::sqlite(dir.path())];
    match Database::postgres().await {
        Some(pg) => dbs.push(pg),
        None => skip("workflow on postgres", "WARDWATCH_TEST_PG is not set"),
    }
    for db in dbs {
        println!("workflow on {}", db.name);
        let store = db.open().await;
        seed(&store, dir.path()).await;

        // A: appeal → panel → upheld → recovered → closed.
        let a = raise(&store, "no_presence/4306001/2026-11-02", "FD1").await;
        assert!(
            store
                .raise_flag(&NewFlag {
                    dedup_key: "no_presence/4306001/2026-11-02".into(),
                    rule_id: RuleId::NoPresence,
                    rule_version: 1,
                    fixmedins_code: "H43060200175".parse().expect("code"),
                    psn_no: None,
                    amount_fen: 1,
                    evidence: serde_json::json!({}),
                    lines: vec![],
                })
                .await
                .expect("raise")
                .is_none(),
            "the same finding is not raised twice"
        );
        illegal_actions_refused(&store, a, T0).await;
        step(
            &store,
            a,
            &auditor(),
            Action::Confirm,
            T0,
            FlagState::Confirmed,
        )
        .await;
        step(
            &store,
            a,
            &auditor(),
            Action::Issue,
            T0 + 1,
            FlagState::Issued,
        )
        .await;
        step(
            &store,
            a,
            &hospital(),
            Action::Appeal,
            T0 + DAY,
            FlagState::Appealed,
        )
        .await;
        // Separation of duties: the first reviewer may not take the second review, nor the panel's.
        let own_review = store
            .transition_flag(
                a,
                &auditor(),
                &request(Action::ReferPanel, T0 + 2 * DAY),
                10,
            )
            .await;
        assert!(
            matches!(
                &own_review,
                Err(TransitionError::Refused(Refusal::SameReviewer { user, .. })) if user == "auditor-li"
            ),
            "{own_review:?}"
        );
        step(
            &store,
            a,
            &second_auditor(),
            Action::ReferPanel,
            T0 + 2 * DAY,
            FlagState::Panel,
        )
        .await;
        let own_panel = store
            .transition_flag(a, &auditor(), &request(Action::Uphold, T0 + 3 * DAY), 10)
            .await;
        assert!(
            matches!(
                own_panel,
                Err(TransitionError::Refused(Refusal::SameReviewer { .. }))
            ),
            "{own_panel:?}"
        );
        step(
            &store,
            a,
            &second_auditor(),
            Action::Uphold,
            T0 + 3 * DAY,
            FlagState::Upheld,
        )
        .await;
        step(
            &store,
            a,
            &auditor(),
            Action::Recover,
            T0 + 4 * DAY,
            FlagState::Handled,
        )
        .await;
        step(
            &store,
            a,
            &auditor(),
            Action::Close,
            T0 + 5 * DAY,
            FlagState::Closed,
        )
        .await;
        let flag = store.flag(a).await.expect("flag").expect("exists");
        assert_eq!(flag.outcome.as_deref(), Some("recover"));
        assert_eq!(flag.appeal_text.as_deref(), Some("appeal after review"));
        let history = store.flag_history(a).await.expect("history");
        let path: Vec<(&str, &str)> = history
            .iter()
            .map(|e| (e.action.as_str(), e.to_state.as_str()))
            .collect();
        assert_eq!(
            path,
            [
                ("raise", "pending"),
                ("confirm", "confirmed"),
                ("issue", "issued"),
                ("appeal", "appealed"),
                ("refer_panel", "panel"),
                ("uphold", "upheld"),
                ("recover", "handled"),
                ("close", "closed")
            ]
        );
        assert_eq!(history[3].role, "institution");
        assert_eq!(history[6].amount_fen, Some(41_000));
        let recovered: Option<i64> =
            sqlx::query_scalar("SELECT recovered_by_flag FROM fee_lines WHERE feedetl_sn = 'FD1'")
                .fetch_one(store.pool())
                .await
                .expect("line");
        assert_eq!(recovered, Some(a));

        // B: excluded at first review.
        let b = raise(&store, "short_presence/4306001/2026-11-04", "FD2").await;
        step(
            &store,
            b,
            &auditor(),
            Action::Exclude,
            T0,
            FlagState::Excluded,
        )
        .await;

        // C: issued, no appeal; payment refused after the deadline, then closed.
        let c = raise(&store, "c", "FD2").await;
        step(
            &store,
            c,
            &auditor(),
            Action::Confirm,
            T0,
            FlagState::Confirmed,
        )
        .await;
        step(&store, c, &auditor(), Action::Issue, T0, FlagState::Issued).await;
        let early = store
            .transition_flag(c, &auditor(), &request(Action::RefusePayment, T0 + DAY), 10)
            .await;
        assert!(
            matches!(early, Err(TransitionError::Refused(Refusal::Deadline(_)))),
            "{early:?}"
        );
        let late_appeal = store
            .transition_flag(c, &hospital(), &request(Action::Appeal, T0 + 11 * DAY), 10)
            .await;
        assert!(
            matches!(
                late_appeal,
                Err(TransitionError::Refused(Refusal::Deadline(_)))
            ),
            "{late_appeal:?}"
        );
        step(
            &store,
            c,
            &auditor(),
            Action::RefusePayment,
            T0 + 11 * DAY,
            FlagState::Handled,
        )
        .await;
        step(
            &store,
            c,
            &auditor(),
            Action::Close,
            T0 + 12 * DAY,
            FlagState::Closed,
        )
        .await;

        // D: the appeal is accepted at second review.
        let d = raise(&store, "d", "FD1").await;
        step(
            &store,
            d,
            &auditor(),
            Action::Confirm,
            T0,
            FlagState::Confirmed,
        )
        .await;
        step(&store, d, &auditor(), Action::Issue, T0, FlagState::Issued).await;
        let stranger = Actor {
            institution: Some("H11111111111".parse().expect("code")),
            ..hospital()
        };
        let foreign = store
            .transition_flag(d, &stranger, &request(Action::Appeal, T0 + 1), 10)
            .await;
        assert!(matches!(
            foreign,
            Err(TransitionError::Refused(Refusal::OtherInstitution { .. }))
        ));
        step(
            &store,
            d,
            &hospital(),
            Action::Appeal,
            T0 + 1,
            FlagState::Appealed,
        )
        .await;
        step(
            &store,
            d,
            &second_auditor(),
            Action::Reverse,
            T0 + 2,
            FlagState::Reversed,
        )
        .await;

        // E: FD1 was recovered by flag A: recovering it again is refused.
        let e = raise(&store, "e", "FD1").await;
        step(
            &store,
            e,
            &auditor(),
            Action::Confirm,
            T0,
            FlagState::Confirmed,
        )
        .await;
        step(&store, e, &auditor(), Action::Issue, T0, FlagState::Issued).await;
        step(
            &store,
            e,
            &hospital(),
            Action::Appeal,
            T0 + 1,
            FlagState::Appealed,
        )
        .await;
        step(
            &store,
            e,
            &second_auditor(),
            Action::Uphold,
            T0 + 2,
            FlagState::Upheld,
        )
        .await;
        let twice = store
            .transition_flag(e, &auditor(), &request(Action::Recover, T0 + 3), 10)
            .await;
        match twice {
            Err(TransitionError::AlreadyRecovered { line, by }) => {
                assert_eq!((line.as_str(), by), ("FD1", a))
            }
            other => panic!("expected AlreadyRecovered, got {other:?}"),
        }
        assert_eq!(
            store.flag(e).await.expect("flag").expect("exists").state,
            FlagState::Upheld
        );

        // Review outcomes: A, C closed and E upheld stand; B excluded and D reversed do not.
        let stats = store.rule_stats().await.expect("rule stats");
        assert_eq!(stats.len(), 1);
        let s = &stats[0];
        assert_eq!(
            (s.raised, s.pending, s.positive, s.negative),
            (5, 0, 3, 2),
            "{s:?}"
        );
        assert_eq!(s.positive_rate, Some(0.6));
        assert_eq!(s.false_positive_rate, Some(0.4));

        // The audit log cannot be edited or deleted.
        let edit =
            sqlx::query("UPDATE flag_events SET reason = 'nothing happened' WHERE flag_id = $1")
                .bind(a)
                .execute(store.pool())
                .await;
        assert!(edit.is_err(), "an audit entry was edited");
        let delete = sqlx::query("DELETE FROM flag_events WHERE flag_id = $1")
            .bind(a)
            .execute(store.pool())
            .await;
        assert!(delete.is_err(), "an audit entry was deleted");
        assert_eq!(store.flag_history(a).await.expect("history").len(), 8);

        store.close().await;
        db.cleanup().await;
    }
}
