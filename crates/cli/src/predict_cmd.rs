//! `onecycle predict RUN_DIR IMAGE…`: the trained model's most likely classes for image files.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;

use crate::out::say;

/// Label image files (PNG, JPEG; any size) with a run folder's trained model.
#[derive(Debug, Args)]
pub struct PredictArgs {
    /// The run folder (written by `onecycle fit`)
    pub run_dir: PathBuf,
    /// Image files
    #[arg(required = true)]
    pub images: Vec<PathBuf>,
    /// How many of the most likely classes to print
    #[arg(long, default_value_t = 1, value_name = "K")]
    pub top: usize,
    /// Blend in the mirrored image's prediction (the run's tta_beta)
    #[arg(long)]
    pub tta: bool,
    /// One JSON object per image: {"path": …, "top": [[class, probability], …]}
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: PredictArgs) -> Result<()> {
    let found = recipe::predict(&args.run_dir, &args.images, args.top, args.tta)?;
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
