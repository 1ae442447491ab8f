//! `onecycle compare RUN_DIR…`: several run folders overlaid in one HTML report, with a table
//! of final and best metric and the iterations and time each run took to reach targets.

use std::path::PathBuf;

use anyhow::{bail, Result};
use clap::Args;
use report::CompareOptions;

use crate::out::say;

/// Compare run folders: overlaid loss, metric and LR curves (aligned by iterations and wall time)
/// and a side-by-side table, written as one self-contained HTML file; the table is printed as
/// markdown.
#[derive(Debug, Args)]
pub struct CompareArgs {
    /// Run folders (written by `onecycle fit`), at least one
    #[arg(required = true, value_name = "RUN_DIR")]
    pub runs: Vec<PathBuf>,
    /// The HTML file to write
    #[arg(long, value_name = "FILE", default_value = "compare.html")]
    pub out: PathBuf,
    /// The epochs.csv column to compare (a metric, or valid_loss)
    #[arg(long, default_value = "accuracy")]
    pub metric: String,
    /// Metric values to reach (repeat or comma-separate): the table gives each run's iterations
    /// and seconds to the first epoch at or beyond it
    #[arg(long = "target", value_delimiter = ',', value_name = "VALUE")]
    pub targets: Vec<f64>,
    /// Names for the runs, comma-separated, in order [default: the folder names]
    #[arg(long, value_delimiter = ',', value_name = "A,B,…")]
    pub names: Vec<String>,
    /// The report's heading
    #[arg(long, default_value = "Run comparison")]
    pub title: String,
}

pub fn run(args: CompareArgs) -> Result<()> {
    if !args.names.is_empty() && args.names.len() != args.runs.len() {
        bail!(
            "--names gives {} names for {} run folders",
            args.names.len(),
            args.runs.len()
        );
    }
    if let Some(t) = args.targets.iter().find(|t| !t.is_finite()) {
        bail!("--target values must be finite numbers, got {t}");
    }
    let runs: Vec<(String, PathBuf)> = args
        .runs
        .iter()
        .enumerate()
        .map(|(i, dir)| {
            let name = args.names.get(i).cloned().unwrap_or_else(|| {
                dir.file_name()
                    .map_or_else(|| dir.display().to_string(), |n| n.to_string_lossy().into())
            });
            (name, dir.clone())
        })
        .collect();
    let options = CompareOptions {
        title: args.title,
        metric: args.metric,
        targets: args.targets,
    };
    let table = report::write_compare_report(&runs, &options, &args.out)?;
    print!("{}", table.to_markdown());
    say!("report: {}", args.out.display());
    Ok(())
}
