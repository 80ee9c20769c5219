//! `broker`: only the embedded MQTT broker, until Ctrl-C/SIGTERM (see [`crate::broker`]).

use crate::broker::start_embedded;
use clap::Args;
use std::net::SocketAddr;
use wardwatch_link::process::shutdown_signal;

/// `broker` options.
#[derive(Debug, Args)]
pub struct BrokerArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:1883")]
    pub listen: SocketAddr,
}

/// Runs the broker until Ctrl-C/SIGTERM.
pub async fn run(args: BrokerArgs) -> anyhow::Result<()> {
    let broker = start_embedded(args.listen)?;
    println!("embedded MQTT broker listening on {}", broker.addr);
    let mut shutdown = shutdown_signal();
    while !*shutdown.borrow() {
        if shutdown.changed().await.is_err() {
            break;
        }
    }
    Ok(())
}
