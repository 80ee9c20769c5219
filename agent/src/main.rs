//! `wardwatch-agent`: the ward-box agent binary. See the library's crate doc for the module map.

use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = wardwatch_agent::cli::Cli::parse();
    wardwatch_link::process::init_tracing_as(cli.log_format);
    wardwatch_link::process::exit_code(wardwatch_agent::cli::execute(cli.command).await)
}
