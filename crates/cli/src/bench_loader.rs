//! `onecycle bench loader`: how many images per second the data loader delivers, to check that it
//! is never the training bottleneck.

use std::path::PathBuf;

use anyhow::Context;
use vision::{Augment, LoaderOptions};

use crate::out::say;

/// Arguments of `onecycle bench loader`.
#[derive(clap::Args, Debug, Clone)]
pub struct BenchLoaderArgs {
    /// CIFAR-10 binary folder or image folder with train/ and valid/ [default: the embedded sample]
    #[arg(long, value_name = "DIR")]
    pub data: Option<PathBuf>,
    /// Images per batch
    #[arg(long, default_value_t = 512)]
    pub batch: usize,
    /// Worker threads making batches
    #[arg(long, default_value_t = 1)]
    pub workers: usize,
    /// Apply the training augmentation (pad 4 + random crop, horizontal flip)
    #[arg(long)]
    pub augment: bool,
    /// Print one JSON object instead of a sentence
    #[arg(long)]
    pub json: bool,
    /// How long to stream batches
    #[arg(long, default_value_t = 5.0)]
    pub seconds: f64,
}

/// Streams training batches for `--seconds` and reports the throughput.
pub fn run(args: BenchLoaderArgs) -> anyhow::Result<()> {
    let (train, _) =
        vision::source::train_valid(args.data.as_deref()).with_context(|| match &args.data {
            Some(d) => format!("reading {}", d.display()),
            None => "reading the embedded sample".into(),
        })?;
    let options = LoaderOptions {
        batch_size: args.batch,
        workers: args.workers,
        shuffle: true,
        augment: args.augment.then(Augment::cifar),
        ..LoaderOptions::default()
    };
    let r = vision::bench::loader_throughput(train, options, args.seconds)?;
    if args.json {
        say!("{}", r.to_json());
    } else {
        say!(
            "{:.0} images/s ({:.1} batches/s of {}, {} worker(s), augment {}) over {:.1} s on {} images {:?}",
            r.images_per_sec,
            r.batches_per_sec,
            r.batch_size,
            r.workers,
            if r.augment { "on" } else { "off" },
            r.seconds,
            r.dataset_len,
            r.image_shape,
        );
    }
    Ok(())
}
