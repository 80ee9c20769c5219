//! `wardwatch`: the all-in-one binary for one machine — the agent's and the collector's commands under
//! one name, plus `demo`, which runs the whole spine (embedded broker, collector on SQLite, an agent
//! replaying a bundled sample) and prints what arrived. Deployments use the slim `wardwatch-agent` and
//! `wardwatch-collector` binaries; this one is for trying WardWatch out and for the end-to-end tests.

mod demo;

use clap::{Parser, Subcommand};

/// WardWatch: scene monitoring of billed ward attendance (agent, collector and demo in one binary).
#[derive(Debug, Parser)]
#[command(name = "wardwatch", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Log lines as `text` or `json` (one object per line), on stderr.
    #[arg(long, global = true, default_value = "text")]
    log_format: wardwatch_link::process::LogFormat,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// The ward-box agent's commands (same as `wardwatch-agent`).
    Agent {
        #[command(subcommand)]
        command: wardwatch_agent::cli::Command,
    },
    /// The bureau collector's commands (same as `wardwatch-collector`).
    Collector {
        #[command(subcommand)]
        command: wardwatch_collector::cli::Command,
    },
    /// Run everything on this machine on embedded defaults and print what arrived.
    Demo(demo::DemoArgs),
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    wardwatch_link::process::init_tracing_as(cli.log_format);
    let result = match cli.command {
        Command::Agent { command } => wardwatch_agent::cli::execute(command).await,
        Command::Collector { command } => wardwatch_collector::cli::execute(command).await,
        Command::Demo(args) => demo::run(args).await,
    };
    wardwatch_link::process::exit_code(result)
}
