//! Signed acks end to end, as separate processes through the embedded broker: forged acks on a box's
//! `…/ack` topic — unsigned, or signed with a key the box does not pin, each claiming a seq far beyond
//! anything sealed — delete nothing, and the box still takes the real collector's signed acks
//! afterwards: every event arrives exactly once and the box drains.

use std::time::{Duration, Instant};
use wardwatch_protocol::{Ack, SigningKey};
use wardwatch_testkit::e2e::*;

const EVENTS: usize = 300;
const HUGE_SEQ: u64 = 1_000_000_000;

/// Waits until `needle` appears `count` times in `log`.
fn wait_log(log: &std::path::Path, needle: &str, count: usize) {
    let started = Instant::now();
    loop {
        let seen = std::fs::read_to_string(log)
            .unwrap_or_default()
            .matches(needle)
            .count();
        if seen >= count {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "{needle:?} seen {seen} of {count} times; log:\n{}",
            tail(log)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_acks_with_a_huge_seq_delete_nothing_and_real_acks_still_count() {
    let mut spine = Spine::new(BrokerKind::Embedded, None, EVENTS, 1.0e6).await;
    let ack_topic = format!("wardwatch/v1/{}/{}/ack", spine.institution, spine.device);
    let agent_log = spine.log("agent");

    // The box seals its whole source into the spool; no collector is listening yet.
    spine.start_agent();
    wait_log(&agent_log, "source finished", 1);

    // Two forgeries, retained as the real ack is: unsigned, and signed by a key the box does not pin.
    let unsigned = Ack::new(spine.device.clone(), HUGE_SEQ).wire(None);
    let rogue = SigningKey::from_bytes(&[0x66; 32]);
    let foreign = Ack::new(spine.device.clone(), HUGE_SEQ).to_signed_wire(&rogue);
    publish_retained(&spine.broker.url(), &ack_topic, unsigned).await;
    wait_log(&agent_log, "ack refused", 1);
    publish_retained(&spine.broker.url(), &ack_topic, foreign).await;
    wait_log(&agent_log, "ack refused", 2);
    let log = std::fs::read_to_string(&agent_log).unwrap_or_default();
    assert!(log.contains("is not signed"), "{}", tail(&agent_log));
    assert!(
        log.contains("not signed by a pinned collector ack key"),
        "{}",
        tail(&agent_log)
    );
    assert!(
        spine
            .agent
            .as_mut()
            .expect("agent")
            .child
            .try_wait()
            .expect("wait")
            .is_none(),
        "the agent must not count a forged ack as drained; log:\n{}",
        tail(&agent_log)
    );
    println!("forged acks (unsigned; signed by an unpinned key) up to seq {HUGE_SEQ}: refused");

    // The real collector: its signed acks retire the spool, and every event arrives once.
    spine.start_collector();
    spine.wait_agent_drained(Duration::from_secs(120));
    let stats = spine.assert_exactly_once().await;
    println!("then the collector's signed acks drained the box: {stats:?}");
    spine.finish().await;
}
