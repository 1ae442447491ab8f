//! `onecycle export RUN_DIR --out FILE`: the trained weights with PyTorch's parameter names.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;

use crate::out::say;

/// Write a run's trained weights as safetensors with PyTorch's names (torchvision's for
/// resnet50; scripts/pytorch_models.py's for the CIFAR ResNets and resnet9).
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The run folder (written by `onecycle fit`)
    pub run_dir: PathBuf,
    /// The safetensors file to write
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
}

pub fn run(args: ExportArgs) -> Result<()> {
    let tensors = recipe::export_pytorch(&args.run_dir, &args.out)?;
    say!("{} tensors → {}", tensors, args.out.display());
    Ok(())
}
