//! `onecycle evaluate RUN_DIR`: the trained model on validation data — accuracy and loss as the
//! run reports them, per-class precision and recall, the confusion matrix and the highest
//! losses; writes evaluation.json and evaluation.html into the run folder.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use record::evaluation::Evaluation;

use crate::out::say;

/// Evaluate a run folder's trained model (its last checkpoint) on validation data.
#[derive(Debug, Args)]
pub struct EvaluateArgs {
    /// The run folder (written by `onecycle fit`)
    pub run_dir: PathBuf,
    /// Validation data with the same classes [default: the run's own]
    #[arg(long, value_name = "DIR")]
    pub data: Option<PathBuf>,
    /// Test-time augmentation as the run trained with it (its tta_views and tta_beta)
    #[arg(long)]
    pub tta: bool,
    /// Print evaluation.json instead of the tables
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: EvaluateArgs) -> Result<()> {
    let (evaluation, page) = recipe::evaluate(&args.run_dir, args.data.as_deref(), args.tta)?;
    if args.json {
        say!("{}", serde_json::to_string_pretty(&evaluation)?);
        return Ok(());
    }
    print_tables(&evaluation);
    say!("{}", page.display());
    Ok(())
}

/// Accuracy and loss, per-class scores and the confusion matrix as text.
fn print_tables(e: &Evaluation) {
    let tta = if e.tta { " (TTA)" } else { "" };
    say!(
        "accuracy {:.4}  loss {:.4}{tta} on {} images",
        e.accuracy,
        e.loss,
        e.images
    );
    let width = e.classes.iter().map(|c| c.len()).max().unwrap_or(5).max(5);
    say!("{:>width$}  precision  recall  images", "class");
    for c in &e.per_class {
        say!(
            "{:>width$}  {:>9.3}  {:>6.3}  {:>6}",
            c.class,
            c.precision,
            c.recall,
            c.support
        );
    }
    say!("confusion (rows: true, columns: predicted)");
    for (class, row) in e.classes.iter().zip(&e.confusion) {
        let cells: Vec<String> = row.iter().map(|n| format!("{n:>5}")).collect();
        say!("{class:>width$} {}", cells.join(""));
    }
}
