//! The `onecycle` command: thin verbs over the onecycle library.

mod bench_loader;
mod bench_train;
mod compare_cmd;
mod download;
mod evaluate_cmd;
mod experiment;
mod export_cmd;
mod fit;
mod launch;
mod lr_find;
mod out;
mod plot_cmd;
mod policy_args;
mod predict_cmd;
mod report_cmd;
mod schedule_cmd;
mod suggest;
mod train_args;
mod tune_cmd;

use std::io::Write;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

/// Train neural networks with Leslie Smith's disciplined approach: the LR range test, the 1cycle
/// policy with cyclical momentum, and plots of everything.
#[derive(Debug, Parser)]
#[command(name = "onecycle", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Train a model (1cycle by default) into a run folder with CSV history and checkpoints
    Fit(Box<fit::FitArgs>),
    /// Smith's disciplined approach: LR, weight decay and momentum from range tests within a
    /// budget, written as recommended.toml with the evidence (fit's flags describe the training)
    Tune(Box<fit::FitArgs>),
    /// LR range test (optionally at several weight decays): CSV, plots and suggested LRs
    LrFind(Box<lr_find::LrFindArgs>),
    /// Suggested LRs (valley, steep, minimum, slide, min_grad, lowest) from a range-test CSV
    Suggest(suggest::SuggestArgs),
    /// Print (and plot) a learning-rate / momentum schedule, one CSV row per step
    Schedule(Box<schedule_cmd::ScheduleArgs>),
    /// Redraw a run folder's charts (schedule, losses, metrics) from its CSV history
    Plot(plot_cmd::PlotArgs),
    /// Re-write a run folder's self-contained report.html (config, summary, charts, suggestions)
    Report(report_cmd::ReportArgs),
    /// A trained run on validation data: accuracy, per-class scores, confusion matrix and the
    /// highest losses (evaluation.json, evaluation.html)
    Evaluate(evaluate_cmd::EvaluateArgs),
    /// Label image files with a trained run's model: class and probability
    Predict(predict_cmd::PredictArgs),
    /// A trained run's weights as safetensors with PyTorch's parameter names
    Export(export_cmd::ExportArgs),
    /// Compare run folders in one HTML report (overlaid curves, table of metric and time to targets)
    Compare(compare_cmd::CompareArgs),
    /// Run an experiment's arms (e.g. super-convergence: 1cycle against standard schedules) and compare them
    Experiment(experiment::ExperimentArgs),
    /// Download a data set (checked and unpacked atomically)
    Download(download::DownloadArgs),
    /// Start N local processes of a command (e.g. -- fit …) as the ranks of one data-parallel run
    Launch(launch::LaunchArgs),
    /// Measure throughput
    #[command(subcommand)]
    Bench(BenchCommand),
}

#[derive(Debug, Subcommand)]
enum BenchCommand {
    /// Images per second the data loader delivers
    Loader(bench_loader::BenchLoaderArgs),
    /// Images per second of full training steps for a model
    Train(bench_train::BenchTrainArgs),
    /// Inference images/s (forward passes in evaluation mode, no gradients) on synthetic 32×32
    /// batches, with bench train's flags
    Infer(bench_train::BenchTrainArgs),
}

/// Lets every option of every verb take a negative number (`--max-lr -0.1`, `--wd -1`), so
/// that the range checks name the parameter and the value instead of clap calling `-0`
/// an unexpected argument.
fn allow_negative_numbers(cmd: clap::Command) -> clap::Command {
    cmd.mut_args(|a| {
        let takes_values = a.get_action().takes_values();
        a.allow_negative_numbers(takes_values)
    })
    .mut_subcommands(allow_negative_numbers)
}

fn main() -> std::process::ExitCode {
    onecycle::engine::init();
    // Ctrl-C and SIGTERM stop training after the current step, with a checkpoint.
    onecycle::interrupt::install();
    let matches = allow_negative_numbers(Cli::command()).get_matches();
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    let result = match cli.command {
        Command::Fit(args) => fit::run(*args),
        Command::Tune(args) => tune_cmd::run(*args),
        Command::LrFind(args) => lr_find::run(*args),
        Command::Suggest(args) => suggest::run(args),
        Command::Schedule(args) => schedule_cmd::run(*args),
        Command::Download(args) => download::run(args),
        Command::Launch(args) => launch::run(args),
        Command::Experiment(args) => experiment::run(args),
        Command::Plot(args) => plot_cmd::run(args),
        Command::Report(args) => report_cmd::run(args),
        Command::Evaluate(args) => evaluate_cmd::run(args),
        Command::Predict(args) => predict_cmd::run(args),
        Command::Export(args) => export_cmd::run(args),
        Command::Compare(args) => compare_cmd::run(args),
        Command::Bench(BenchCommand::Loader(args)) => bench_loader::run(args),
        Command::Bench(BenchCommand::Train(args)) => bench_train::run(args),
        Command::Bench(BenchCommand::Infer(args)) => bench_train::run_infer(args),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // Even when standard error is closed, the exit status says it failed.
            let _ = writeln!(std::io::stderr(), "error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// clap's checks of every verb's flags, with negative numbers allowed.
    #[test]
    fn the_command_line_is_consistent() {
        allow_negative_numbers(Cli::command()).debug_assert();
    }
}
