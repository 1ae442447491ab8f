//! Loader throughput and peak memory on a CIFAR-10 folder (default: ../shared/data/cifar10):
//! `scripts/cargo run --release -p vision --example loader_bench -- [DIR] [WORKERS] [SECONDS]`.
//! Streams the training split with augmentation, batch 512, and prints the result as JSON and
//! the process's peak resident memory.

use std::path::PathBuf;

use vision::{Augment, LoaderOptions};

/// A `/proc/self/status` memory figure (`VmHWM` = peak RSS, `VmRSS` = current) in MiB.
fn status_mib(key: &str) -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(key))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

fn main() {
    let mut args = std::env::args().skip(1);
    let dir = args.next().map(PathBuf::from).unwrap_or_else(|| {
        PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../../shared/data/cifar10"
        ))
    });
    let workers = args
        .next()
        .map_or(1, |w| w.parse().expect("WORKERS is a number"));
    let seconds = args
        .next()
        .map_or(5.0, |s| s.parse().expect("SECONDS is a number"));
    let _ = tch::Tensor::zeros([1], (tch::Kind::Float, tch::Device::Cpu));
    let base = status_mib("VmRSS:").unwrap_or(0.0);
    let train = vision::cifar::load(&dir, vision::cifar::Split::Train).expect("CIFAR-10 folder");
    let raw_mib = train.pixels().len() as f64 / (1024.0 * 1024.0);
    let loaded = status_mib("VmRSS:").unwrap_or(0.0);
    let options = LoaderOptions {
        workers,
        augment: Some(Augment::cifar()),
        ..LoaderOptions::train(512)
    };
    let result = vision::bench::loader_throughput(train, options, seconds).expect("loader");
    println!("{}", result.to_json());
    let peak = status_mib("VmHWM:").unwrap_or(0.0);
    println!(
        "raw pixels {raw_mib:.1} MiB; RSS: {base:.1} MiB before loading, {loaded:.1} MiB loaded, \
         peak {peak:.1} MiB (loader {:.1} MiB over the loaded data)",
        peak - loaded
    );
}
