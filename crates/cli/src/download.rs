//! `onecycle download cifar10 [--dir D]`: fetch, verify and unpack a data set for real use.

use std::io::Write as _;
use std::path::PathBuf;

use anyhow::Context;
use vision::download::{self, CIFAR10_MD5, CIFAR10_URL};

use crate::out::say;

/// Data sets that can be downloaded.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum DownloadDataset {
    /// CIFAR-10, official binary version (163 MB), md5-checked
    Cifar10,
}

/// Arguments of `onecycle download`.
#[derive(clap::Args, Debug, Clone)]
pub struct DownloadArgs {
    /// Which data set
    #[arg(value_enum)]
    pub dataset: DownloadDataset,
    /// Folder to hold the files (created; must be absent, empty or a verified copy)
    #[arg(long, value_name = "DIR", default_value = "data/cifar10")]
    pub dir: PathBuf,
    /// Archive URL (for tests and mirrors)
    #[arg(long, hide = true, default_value = CIFAR10_URL)]
    pub url: String,
    /// Expected md5 of the archive (for tests and mirrors)
    #[arg(long, hide = true, default_value = CIFAR10_MD5)]
    pub md5: String,
}

/// Downloads unless a verified copy is already there; prints where the data is.
pub fn run(args: DownloadArgs) -> anyhow::Result<()> {
    match args.dataset {
        DownloadDataset::Cifar10 => {
            if download::is_verified(&args.dir, &args.md5) {
                say!("CIFAR-10 already in {} (verified)", args.dir.display());
                return Ok(());
            }
            // A folder that cannot take the data is refused before anything is fetched.
            download::check_target(&args.dir)
                .with_context(|| format!("downloading CIFAR-10 into {}", args.dir.display()))?;
            let _ = writeln!(std::io::stderr(), "downloading {} …", args.url);
            let dir = download::cifar10(&args.dir, &args.url, &args.md5)
                .with_context(|| format!("downloading CIFAR-10 into {}", args.dir.display()))?;
            say!("CIFAR-10 saved in {} (md5 verified)", dir.display());
        }
    }
    Ok(())
}
