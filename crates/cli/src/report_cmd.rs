//! `onecycle report RUN_DIR`: re-write a run folder's self-contained report.html.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;

use crate::out::say;

/// Write RUN_DIR/report.html: config, summary, charts and range-test suggestions, from the folder's
/// files (a folder holding only a range test works too).
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The run folder (written by `onecycle fit` or `onecycle lr-find`)
    pub run_dir: PathBuf,
}

pub fn run(args: ReportArgs) -> Result<()> {
    let file = report::write_run_report(&args.run_dir)?;
    say!("{}", file.display());
    Ok(())
}
