//! `broker`: only the embedded MQTT broker, until Ctrl-C/SIGTERM (see [`crate::broker`]).

use crate::broker::start_embedded;
use clap::Args;
use std::net::SocketAddr;
use wardwatch_link::process::shutdown_signal;

/// `broker` options.
#[derive(Debug, Args)]
pub struct BrokerArgs {
    /// Address clients connect to (loopback only; packets over 72 KiB refused).
    #[arg(long, default_value = "127.0.0.1:1883")]
    pub listen: SocketAddr,
    /// Address for collectors publishing large galleries (loopback; default: a free port).
    #[arg(long)]
    pub listen_collector: Option<SocketAddr>,
}

/// Runs the broker until Ctrl-C/SIGTERM.
pub async fn run(args: BrokerArgs) -> anyhow::Result<()> {
    let broker = start_embedded(args.listen, args.listen_collector)?;
    println!(
        "embedded MQTT broker listening on {} (collectors: {})",
        broker.addr, broker.collector_addr
    );
    let mut shutdown = shutdown_signal();
    while !*shutdown.borrow() {
        if shutdown.changed().await.is_err() {
            break;
        }
    }
    Ok(())
}
