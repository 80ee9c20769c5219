//! The WardWatch test kit: what only tests, benches and the demo use, kept out of the production
//! libraries (`wardwatch-agent`, `wardwatch-collector`). Never published, never deployed.
//!
//! | module | what it is for | feature |
//! |---|---|---|
//! | [`clip`] | synthetic ward recordings with ground truth: the agent's tests and benches, the demo | — |
//! | `simulate` | a generated ward month with ground truth per fee line: the collector's `rules_month` bench, the rules tests; scaled out to a province-month (`simulate::province`: the `province` bench) | `month` |
//! | `ward_box` | a ward box sealing its chain at the times a test says, for tests that hand events to the collector's store directly | `month` or `e2e` |
//! | `e2e` | the end-to-end harness of the root package's tests: the `wardwatch` binary as separate processes, brokers, databases | `e2e` |

pub mod clip;
#[cfg(feature = "e2e")]
pub mod e2e;
#[cfg(feature = "month")]
pub mod simulate;
#[cfg(any(feature = "month", feature = "e2e"))]
pub mod ward_box;
