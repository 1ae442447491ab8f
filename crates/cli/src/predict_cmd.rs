//! `onecycle predict RUN_DIR IMAGE…`: the trained model's most likely classes for image files.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;

use crate::out::say;

/// Label image files (PNG, JPEG; any size, or folders of them) with a run folder's trained model.
#[derive(Debug, Args)]
pub struct PredictArgs {
    /// The run folder (written by `onecycle fit`)
    pub run_dir: PathBuf,
    /// Image files, or folders of PNG and JPEG files
    #[arg(required = true)]
    pub images: Vec<PathBuf>,
    /// How many of the most likely classes to print
    #[arg(long, default_value_t = 1, value_name = "K")]
    pub top: usize,
    /// Test-time augmentation as the run's `tta_views` and `tta_beta` say
    #[arg(long)]
    pub tta: bool,
    /// One JSON object per image: {"path": …, "top": [[class, probability], …]}
    #[arg(long)]
    pub json: bool,
    /// Write the predictions to this CSV file (path,class,probability,…) instead of printing
    #[arg(long, value_name = "FILE")]
    pub csv: Option<PathBuf>,
}

pub fn run(args: PredictArgs) -> Result<()> {
    let found = recipe::predict(&args.run_dir, &args.images, args.top, args.tta)?;
    if let Some(csv) = &args.csv {
        record::write_atomic(csv, recipe::predictions_csv(&found).as_bytes())?;
        say!("{} images → {}", found.len(), csv.display());
        return Ok(());
    }
    for p in &found {
        if args.json {
            say!("{}", serde_json::to_string(p)?);
            continue;
        }
        let classes: Vec<String> = p
            .top
            .iter()
            .map(|(class, prob)| format!("{class} {prob:.3}"))
            .collect();
        say!("{}: {}", p.path.display(), classes.join(", "));
    }
    Ok(())
}
