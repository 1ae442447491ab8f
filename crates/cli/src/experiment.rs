//! `onecycle experiment KIND --preset NAME`: run every arm of an experiment and compare them.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use recipe::experiment::Experiment;

use crate::out::say;

/// Run an experiment (several fits that differ only where its preset says) and write one report.
#[derive(Debug, Args)]
pub struct ExperimentArgs {
    /// Which experiment: super-convergence
    pub kind: String,
    /// A shipped preset (paper, cpu, smoke) or a TOML file written like them
    #[arg(long, default_value = "cpu")]
    pub preset: String,
    /// CIFAR-10 binary folder or image folder for every arm [default: the embedded sample]
    #[arg(long, value_name = "DIR")]
    pub data: Option<PathBuf>,
    /// Output folder: one run folder per arm and report.html [default: runs/<experiment name>];
    /// run again to resume an interrupted experiment
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// No progress bars or epoch lines
    #[arg(long)]
    pub quiet: bool,
}

pub fn run(args: ExperimentArgs) -> Result<()> {
    let experiment = Experiment::load(&args.kind, &args.preset)?;
    let dir = args
        .out
        .unwrap_or_else(|| PathBuf::from("runs").join(&experiment.name));
    let done = experiment.run(args.data.as_deref(), &dir, args.quiet)?;
    say!("{}", done.table.to_markdown());
    say!("report: {}", done.report.display());
    Ok(())
}
