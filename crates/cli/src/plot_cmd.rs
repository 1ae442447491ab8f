//! `onecycle plot RUN_DIR`: redraw a run folder's charts from its CSV history.

use std::path::PathBuf;

use anyhow::Result;
use clap::{Args, ValueEnum};
use report::RunChart;

use crate::out::say;

/// Redraw the charts of a run folder (schedule, losses and metrics, range tests) from its CSVs.
#[derive(Debug, Args)]
pub struct PlotArgs {
    /// The run folder (written by `onecycle fit` or `onecycle lr-find`)
    pub run_dir: PathBuf,
    /// Which charts [default: every chart the folder has data for]
    #[arg(long, value_enum, value_delimiter = ',')]
    pub what: Vec<What>,
    /// Write SVG instead of PNG
    #[arg(long)]
    pub svg: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum What {
    /// LR and momentum per step (schedule.png)
    Schedule,
    /// Training loss per step, validation loss and metrics per epoch (training.png)
    Training,
    /// Range-test curves with their suggestions (lr_find*.png)
    LrFind,
}

pub fn run(args: PlotArgs) -> Result<()> {
    let ext = if args.svg { "svg" } else { "png" };
    let which: Vec<RunChart> = args
        .what
        .iter()
        .map(|w| match w {
            What::Schedule => RunChart::Schedule,
            What::Training => RunChart::Training,
            What::LrFind => RunChart::LrFind,
        })
        .collect();
    for file in report::run_charts(&args.run_dir, ext, &which)? {
        say!("{}", file.display());
    }
    Ok(())
}
