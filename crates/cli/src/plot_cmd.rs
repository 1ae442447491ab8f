//! `onecycle plot RUN_DIR`: redraw a run folder's charts from its CSV history.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;

/// Redraw the schedule and training charts of a run folder from steps.csv and epochs.csv.
#[derive(Debug, Args)]
pub struct PlotArgs {
    /// The run folder (written by `onecycle fit`)
    pub run_dir: PathBuf,
    /// Write SVG instead of PNG
    #[arg(long)]
    pub svg: bool,
}

pub fn run(args: PlotArgs) -> Result<()> {
    let ext = if args.svg { "svg" } else { "png" };
    for file in onecycle::plot::run_charts(&args.run_dir, ext)? {
        println!("{}", file.display());
    }
    Ok(())
}
