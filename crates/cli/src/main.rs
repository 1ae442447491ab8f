//! The `onecycle` command: thin verbs over the onecycle library.

mod policy_args;
mod schedule_cmd;

use clap::{Parser, Subcommand};

/// Train neural networks with Leslie Smith's disciplined approach: the LR range test, the 1cycle
/// policy with cyclical momentum, and plots of everything.
#[derive(Debug, Parser)]
#[command(name = "onecycle", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print (and plot) a learning-rate / momentum schedule, one CSV row per step
    Schedule(schedule_cmd::ScheduleArgs),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Schedule(args) => schedule_cmd::run(args),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
