//! Loader throughput measurement: streams batches for a fixed time, as a training loop would
//! consume them, and reports images per second (for `onecycle bench loader`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::dataset::Dataset;
use crate::loader::{Loader, LoaderError, LoaderOptions};

/// What [`loader_throughput`] measured.
#[derive(Clone, Debug, Serialize)]
pub struct BenchResult {
    pub images_per_sec: f64,
    pub batches_per_sec: f64,
    /// Batches and images consumed in the timed window.
    pub batches: usize,
    pub images: usize,
    /// Length of the timed window.
    pub seconds: f64,
    /// Seconds until the first batch arrived (worker start-up; not in the timed window).
    pub first_batch_seconds: f64,
    pub batch_size: usize,
    pub workers: usize,
    pub augment: bool,
    /// Dataset size and image shape `[c, h, w]`.
    pub dataset_len: usize,
    pub image_shape: [usize; 3],
}

impl BenchResult {
    /// The result as one line of JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a struct of numbers serialises")
    }
}

/// Streams epochs (1, 2, …) of `dataset` through a loader built from `options` for `seconds`
/// (at least one batch), counting what comes out. The first batch is taken before the clock
/// starts, so start-up is reported apart.
pub fn loader_throughput(
    dataset: impl Into<Arc<Dataset>>,
    options: LoaderOptions,
    seconds: f64,
) -> Result<BenchResult, LoaderError> {
    let loader = Loader::new(dataset, options)?;
    let budget = Duration::from_secs_f64(seconds.max(0.0));
    let started = Instant::now();
    let mut first_batch_seconds = None;
    let mut clock = started;
    let (mut batches, mut images) = (0, 0);
    'epochs: for epoch in 0.. {
        for batch in loader.epoch(epoch) {
            let batch = batch?;
            if first_batch_seconds.is_none() {
                first_batch_seconds = Some(started.elapsed().as_secs_f64());
                clock = Instant::now();
                continue;
            }
            batches += 1;
            images += batch.labels.size()[0] as usize;
            if clock.elapsed() >= budget {
                break 'epochs;
            }
        }
        if loader.is_empty() {
            break;
        }
    }
    let seconds = clock.elapsed().as_secs_f64();
    let (c, h, w) = loader.output_shape();
    let options = loader.options();
    Ok(BenchResult {
        images_per_sec: images as f64 / seconds.max(f64::MIN_POSITIVE),
        batches_per_sec: batches as f64 / seconds.max(f64::MIN_POSITIVE),
        batches,
        images,
        seconds,
        first_batch_seconds: first_batch_seconds.unwrap_or(0.0),
        batch_size: options.batch_size,
        workers: options.workers,
        augment: options.augment.is_some(),
        dataset_len: loader.source_len(),
        image_shape: [c, h, w],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_several_epochs_and_reports_json() {
        let (train, _) = crate::sample::cifar10_sample();
        let small = train.slice(0..100);
        let r = loader_throughput(small, LoaderOptions::train(32), 0.05).unwrap();
        assert!(r.batches >= 1 && r.images_per_sec > 0.0);
        assert_eq!((r.batch_size, r.workers, r.augment), (32, 1, true));
        assert_eq!((r.dataset_len, r.image_shape), (100, [3, 32, 32]));
        let json: serde_json::Value = serde_json::from_str(&r.to_json()).unwrap();
        assert!(json["images_per_sec"].as_f64().unwrap() > 0.0);
    }
}
