//! The `onecycle` command: thin verbs over the onecycle library.

mod bench_loader;
mod download;
mod fit;
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
    /// Train a model (1cycle by default) into a run folder with CSV history and checkpoints
    Fit(Box<fit::FitArgs>),
    /// Print (and plot) a learning-rate / momentum schedule, one CSV row per step
    Schedule(Box<schedule_cmd::ScheduleArgs>),
    /// Download a data set (checked and unpacked atomically)
    Download(download::DownloadArgs),
    /// Measure throughput
    #[command(subcommand)]
    Bench(BenchCommand),
}

#[derive(Debug, Subcommand)]
enum BenchCommand {
    /// Images per second the data loader delivers
    Loader(bench_loader::BenchLoaderArgs),
}

fn main() -> std::process::ExitCode {
    onecycle::engine::init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Fit(args) => fit::run(*args),
        Command::Schedule(args) => schedule_cmd::run(*args),
        Command::Download(args) => download::run(args),
        Command::Bench(BenchCommand::Loader(args)) => bench_loader::run(args),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
