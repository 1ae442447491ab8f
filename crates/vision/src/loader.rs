//! The prefetching loader: worker threads turn dataset items into whole batches (augmented,
//! normalised `f32` tensors) and hand them over through bounded queues while the model trains.
//!
//! Batch `b` of epoch `e` is a pure function of `(seed, e, b)`: the epoch's shuffle comes from
//! `(seed, e)` and the batch's augmentation from `(seed, e, b)`, so the number of workers changes
//! speed only. Worker `w` makes batches `w, w + workers, …` into its own queue and the epoch reads
//! the queues in turn, so batches arrive in order without a reordering buffer.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::Arc;
use std::thread::JoinHandle;

use tch::Tensor;

use crate::augment::{Augment, AugmentError, Normalize, Transform};
use crate::dataset::Dataset;
use crate::rng::Rng;

/// Stream keys that keep the shuffle and the augmentation draws independent.
const SHUFFLE_STREAM: u64 = 0x5348_5546;
const AUGMENT_STREAM: u64 = 0x4155_474d;

/// How a [`Loader`] batches, shuffles and augments.
#[derive(Clone, Debug, PartialEq)]
pub struct LoaderOptions {
    pub batch_size: usize,
    /// Threads making batches.
    pub workers: usize,
    /// Drop the last batch of an epoch when it is smaller than `batch_size`.
    pub drop_last: bool,
    /// Batches made ahead of the consumer, over all workers (at least one per worker).
    pub prefetch: usize,
    /// Use only the first `limit` items of the dataset (quick runs).
    pub limit: Option<usize>,
    /// Shuffle the items every epoch.
    pub shuffle: bool,
    /// Random augmentation; `None` for validation (the images pass unchanged).
    pub augment: Option<Augment>,
    pub normalize: Normalize,
    pub seed: u64,
}

impl Default for LoaderOptions {
    /// Batches of 512 in order, no augmentation, CIFAR-10 normalisation, one worker.
    fn default() -> Self {
        LoaderOptions {
            batch_size: 512,
            workers: 1,
            drop_last: false,
            prefetch: 4,
            limit: None,
            shuffle: false,
            augment: None,
            normalize: Normalize::cifar10(),
            seed: 0,
        }
    }
}

impl LoaderOptions {
    /// Training: shuffled, CIFAR augmentation ([`Augment::cifar`]).
    pub fn train(batch_size: usize) -> Self {
        LoaderOptions {
            batch_size,
            shuffle: true,
            augment: Some(Augment::cifar()),
            ..Default::default()
        }
    }

    /// Validation: in order, no augmentation.
    pub fn valid(batch_size: usize) -> Self {
        LoaderOptions {
            batch_size,
            ..Default::default()
        }
    }
}

/// Images as `f32 [N, C, H, W]` and labels as `i64 [N]`, on the CPU.
#[derive(Debug)]
pub struct Batch {
    pub images: Tensor,
    pub labels: Tensor,
}

/// What went wrong building a loader or making a batch.
#[derive(Debug, thiserror::Error)]
pub enum LoaderError {
    #[error("loader option {name} must be at least 1, got {value}")]
    Option { name: &'static str, value: usize },
    #[error(transparent)]
    Augment(#[from] AugmentError),
    #[error("batch {batch}: cannot create tensor: {message}")]
    Tensor { batch: usize, message: String },
    #[error("loader worker panicked while making batch {batch}: {message}")]
    WorkerPanic { batch: usize, message: String },
}

/// Everything the workers share.
struct Shared {
    data: Arc<Dataset>,
    transform: Transform,
    batch_size: usize,
    items: usize,
    seed: u64,
    #[cfg(test)]
    fault: Option<tests::Fault>,
}

/// Batches over a [`Dataset`]; each call to [`epoch`](Loader::epoch) starts workers for one pass.
pub struct Loader {
    shared: Arc<Shared>,
    options: LoaderOptions,
}

impl Loader {
    /// Validates the options against the dataset's image shape.
    pub fn new(data: impl Into<Arc<Dataset>>, options: LoaderOptions) -> Result<Self, LoaderError> {
        let data = data.into();
        for (name, value) in [
            ("batch_size", options.batch_size),
            ("workers", options.workers),
            ("prefetch", options.prefetch),
        ] {
            if value == 0 {
                return Err(LoaderError::Option { name, value });
            }
        }
        let transform = Transform::new(data.shape(), options.augment.clone(), &options.normalize)?;
        let available = options.limit.unwrap_or(usize::MAX).min(data.len());
        let items = if options.drop_last {
            available / options.batch_size * options.batch_size
        } else {
            available
        };
        let shared = Arc::new(Shared {
            data,
            transform,
            batch_size: options.batch_size,
            items,
            seed: options.seed,
            #[cfg(test)]
            fault: None,
        });
        Ok(Loader { shared, options })
    }

    pub fn options(&self) -> &LoaderOptions {
        &self.options
    }

    pub fn dataset(&self) -> &Arc<Dataset> {
        &self.shared.data
    }

    /// Batches per epoch.
    pub fn len(&self) -> usize {
        self.shared.items.div_ceil(self.shared.batch_size)
    }

    pub fn is_empty(&self) -> bool {
        self.shared.items == 0
    }

    /// Items per epoch (after `limit` and `drop_last`).
    pub fn items(&self) -> usize {
        self.shared.items
    }

    /// `(c, h, w)` of the images in a batch.
    pub fn output_shape(&self) -> (usize, usize, usize) {
        self.shared.transform.output_shape()
    }

    /// Dataset indices of epoch `epoch`, in the order the batches use them.
    pub fn order(&self, epoch: u64) -> Vec<u32> {
        let available = self
            .options
            .limit
            .unwrap_or(usize::MAX)
            .min(self.shared.data.len());
        let mut order: Vec<u32> = (0..available as u32).collect();
        if self.options.shuffle {
            Rng::from_keys(&[self.shared.seed, epoch, SHUFFLE_STREAM]).shuffle(&mut order);
        }
        order.truncate(self.shared.items);
        order
    }

    /// All batches of epoch `epoch`, in order.
    pub fn epoch(&self, epoch: u64) -> Epoch {
        self.epoch_from(epoch, 0)
    }

    /// Epoch `epoch` starting at batch `start` (to resume mid-epoch); the batches are those that
    /// [`epoch`](Loader::epoch) would give from that point.
    pub fn epoch_from(&self, epoch: u64, start: usize) -> Epoch {
        let end = self.len();
        let start = start.min(end);
        let workers = self.options.workers.min((end - start).max(1));
        let capacity = self.options.prefetch.div_ceil(workers).max(1);
        let order = Arc::new(self.order(epoch));
        let stop = Arc::new(AtomicBool::new(false));
        let mut receivers = Vec::with_capacity(workers);
        let mut handles = Vec::with_capacity(workers);
        for w in 0..workers {
            let (tx, rx) = sync_channel(capacity);
            let (shared, order, stop) = (self.shared.clone(), order.clone(), stop.clone());
            let batches = (start + w..end).step_by(workers);
            let handle = std::thread::Builder::new()
                .name(format!("loader-{w}"))
                .spawn(move || work(&shared, &order, epoch, batches, &tx, &stop))
                .expect("spawn loader worker thread");
            receivers.push(rx);
            handles.push(Some(handle));
        }
        Epoch {
            receivers,
            handles,
            start,
            next: start,
            end,
            failed: false,
            stop,
        }
    }
}

/// A worker's loop: make its batches in turn until done, stopped, or the epoch is dropped.
fn work(
    shared: &Shared,
    order: &[u32],
    epoch: u64,
    batches: impl Iterator<Item = usize>,
    tx: &SyncSender<Result<Batch, LoaderError>>,
    stop: &AtomicBool,
) {
    let mut buffer = Vec::new();
    for b in batches {
        if stop.load(Ordering::Relaxed) {
            return;
        }
        let result = make_batch(shared, order, epoch, b, &mut buffer);
        let failed = result.is_err();
        if tx.send(result).is_err() || failed {
            return;
        }
    }
}

/// Fills `buffer` with batch `b` of the epoch whose item order is `order`, then wraps it in tensors.
fn make_batch(
    shared: &Shared,
    order: &[u32],
    epoch: u64,
    b: usize,
    buffer: &mut Vec<f32>,
) -> Result<Batch, LoaderError> {
    #[cfg(test)]
    tests::inject(shared.fault, b)?;
    let items = &order[b * shared.batch_size..((b + 1) * shared.batch_size).min(order.len())];
    let per_image = shared.transform.output_len();
    buffer.resize(items.len() * per_image, 0.0);
    let mut rng = Rng::from_keys(&[shared.seed, epoch, b as u64, AUGMENT_STREAM]);
    let mut labels = Vec::with_capacity(items.len());
    for (&i, out) in items.iter().zip(buffer.chunks_exact_mut(per_image)) {
        shared
            .transform
            .apply_random(shared.data.image(i as usize), &mut rng, out);
        labels.push(shared.data.label(i as usize) as i64);
    }
    let (c, h, w) = shared.transform.output_shape();
    let tensor_error = |e: tch::TchError| LoaderError::Tensor {
        batch: b,
        message: e.to_string(),
    };
    let images = Tensor::f_from_slice(buffer.as_slice())
        .and_then(|t| t.f_view([items.len() as i64, c as i64, h as i64, w as i64]))
        .map_err(tensor_error)?;
    let labels = Tensor::f_from_slice(&labels).map_err(tensor_error)?;
    Ok(Batch { images, labels })
}

/// One pass over the data: an iterator of batches, in order. Dropping it stops its workers.
pub struct Epoch {
    receivers: Vec<Receiver<Result<Batch, LoaderError>>>,
    handles: Vec<Option<JoinHandle<()>>>,
    start: usize,
    next: usize,
    end: usize,
    failed: bool,
    stop: Arc<AtomicBool>,
}

impl Epoch {
    /// Index of the batch the next call to `next` returns (for checkpoints and resuming).
    pub fn position(&self) -> usize {
        self.next
    }
}

impl Iterator for Epoch {
    type Item = Result<Batch, LoaderError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.next >= self.end {
            return None;
        }
        let w = (self.next - self.start) % self.receivers.len();
        match self.receivers[w].recv() {
            Ok(Ok(batch)) => {
                self.next += 1;
                Some(Ok(batch))
            }
            Ok(Err(e)) => {
                self.failed = true;
                Some(Err(e))
            }
            Err(_) => {
                // The worker hung up before sending this batch: it panicked.
                self.failed = true;
                let message = match self.handles[w].take().map(JoinHandle::join) {
                    Some(Err(payload)) => payload
                        .downcast_ref::<&str>()
                        .map(|s| s.to_string())
                        .or_else(|| payload.downcast_ref::<String>().cloned())
                        .unwrap_or_else(|| "unknown panic".into()),
                    _ => "worker stopped".into(),
                };
                Some(Err(LoaderError::WorkerPanic {
                    batch: self.next,
                    message,
                }))
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = if self.failed { 0 } else { self.end - self.next };
        (0, Some(left))
    }
}

impl Drop for Epoch {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Hanging up wakes workers blocked on a full queue; they then return.
        self.receivers.clear();
        for handle in self.handles.iter_mut().filter_map(Option::take) {
            let _ = handle.join();
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A failure to inject when making a given batch.
    #[derive(Clone, Copy, Debug)]
    pub(crate) enum Fault {
        Panic(usize),
        Error(usize),
    }

    pub(super) fn inject(fault: Option<Fault>, batch: usize) -> Result<(), LoaderError> {
        match fault {
            Some(Fault::Panic(b)) if b == batch => panic!("injected panic at batch {b}"),
            Some(Fault::Error(b)) if b == batch => Err(LoaderError::Tensor {
                batch,
                message: "injected".into(),
            }),
            _ => Ok(()),
        }
    }

    /// `n` images of 1×1×2 whose pixels are `(i % 256, i / 256)`, label `i % 10`.
    fn indexed(n: usize) -> Dataset {
        let pixels = (0..n)
            .flat_map(|i| [(i % 256) as u8, (i / 256) as u8])
            .collect();
        let labels = (0..n).map(|i| (i % 10) as u8).collect();
        let classes = (0..10).map(|i| i.to_string()).collect();
        Dataset::new(pixels, labels, classes, (1, 1, 2)).unwrap()
    }

    fn plain(batch_size: usize) -> LoaderOptions {
        LoaderOptions {
            batch_size,
            normalize: Normalize::identity(1),
            ..Default::default()
        }
    }

    fn floats(t: &Tensor) -> Vec<f32> {
        Vec::<f32>::try_from(&t.view([-1])).unwrap()
    }

    /// The dataset indices and labels of every batch of an epoch.
    fn indices(epoch: Epoch) -> Vec<(Vec<usize>, Vec<i64>)> {
        epoch
            .map(|b| {
                let b = b.unwrap();
                let px = floats(&b.images);
                let idx = px
                    .chunks(2)
                    .map(|p| p[0] as usize + 256 * p[1] as usize)
                    .collect();
                (idx, Vec::<i64>::try_from(&b.labels).unwrap())
            })
            .collect()
    }

    #[test]
    fn unshuffled_batches_follow_the_dataset_with_their_labels() {
        let loader = Loader::new(indexed(10), plain(4)).unwrap();
        assert_eq!((loader.len(), loader.items()), (3, 10));
        let batches = indices(loader.epoch(0));
        let sizes: Vec<usize> = batches.iter().map(|(i, _)| i.len()).collect();
        assert_eq!(sizes, vec![4, 4, 2]);
        let all: Vec<usize> = batches.iter().flat_map(|(i, _)| i.clone()).collect();
        assert_eq!(all, (0..10).collect::<Vec<_>>());
        for (idx, labels) in &batches {
            let expected: Vec<i64> = idx.iter().map(|&i| (i % 10) as i64).collect();
            assert_eq!(labels, &expected);
        }
    }

    #[test]
    fn batch_tensors_have_the_documented_kinds_and_shapes() {
        let loader = Loader::new(indexed(5), plain(4)).unwrap();
        let b = loader.epoch(0).next().unwrap().unwrap();
        assert_eq!(b.images.size(), vec![4, 1, 1, 2]);
        assert_eq!(b.images.kind(), tch::Kind::Float);
        assert_eq!(b.labels.size(), vec![4]);
        assert_eq!(b.labels.kind(), tch::Kind::Int64);
    }

    #[test]
    fn shuffle_visits_every_item_once_per_epoch_in_a_new_order() {
        let opts = LoaderOptions {
            shuffle: true,
            seed: 5,
            ..plain(64)
        };
        let loader = Loader::new(indexed(1000), opts).unwrap();
        let epoch = |e| -> Vec<usize> {
            indices(loader.epoch(e))
                .into_iter()
                .flat_map(|(i, _)| i)
                .collect()
        };
        let (a, b) = (epoch(0), epoch(1));
        assert_ne!(a, b);
        assert_eq!(a, epoch(0));
        let mut sorted = a.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..1000).collect::<Vec<_>>());
        let order: Vec<usize> = loader.order(0).iter().map(|&i| i as usize).collect();
        assert_eq!(order, a);
    }

    #[test]
    fn drop_last_and_limit() {
        let opts = LoaderOptions {
            drop_last: true,
            ..plain(4)
        };
        let loader = Loader::new(indexed(10), opts).unwrap();
        let sizes: Vec<usize> = indices(loader.epoch(0)).iter().map(|b| b.0.len()).collect();
        assert_eq!(sizes, vec![4, 4]);

        let opts = LoaderOptions {
            limit: Some(7),
            shuffle: true,
            ..plain(3)
        };
        let loader = Loader::new(indexed(100), opts).unwrap();
        assert_eq!((loader.len(), loader.items()), (3, 7));
        let mut seen: Vec<usize> = indices(loader.epoch(2))
            .into_iter()
            .flat_map(|(i, _)| i)
            .collect();
        seen.sort_unstable();
        assert_eq!(seen, (0..7).collect::<Vec<_>>());
    }

    /// 40 random 3×8×8 images, augmented with everything.
    fn augmented(workers: usize, prefetch: usize) -> Loader {
        let mut rng = Rng::from_keys(&[99]);
        let pixels = (0..40 * 192).map(|_| rng.below(256) as u8).collect();
        let labels = (0..40).map(|i| (i % 10) as u8).collect();
        let classes = (0..10).map(|i| i.to_string()).collect();
        let data = Dataset::new(pixels, labels, classes, (3, 8, 8)).unwrap();
        let opts = LoaderOptions {
            workers,
            prefetch,
            seed: 11,
            augment: Some(Augment {
                pad: 2,
                cutout: 3,
                crop: Some((6, 7)),
                ..Augment::cifar()
            }),
            ..LoaderOptions::train(6)
        };
        Loader::new(data, opts).unwrap()
    }

    fn contents(epoch: Epoch) -> Vec<(Vec<f32>, Vec<i64>)> {
        epoch
            .map(|b| {
                let b = b.unwrap();
                (floats(&b.images), Vec::<i64>::try_from(&b.labels).unwrap())
            })
            .collect()
    }

    #[test]
    fn same_seed_gives_identical_batches_for_any_worker_count() {
        let one = contents(augmented(1, 1).epoch(3));
        let three = contents(augmented(3, 5).epoch(3));
        assert_eq!(one.len(), 7);
        assert_eq!(one, three);
        assert_eq!(
            augmented(3, 2)
                .epoch(3)
                .next()
                .unwrap()
                .unwrap()
                .images
                .size(),
            vec![6, 3, 6, 7]
        );
        assert_ne!(one, contents(augmented(1, 1).epoch(4)));
    }

    #[test]
    fn resuming_mid_epoch_gives_the_remaining_batches() {
        let loader = augmented(2, 2);
        let full = contents(loader.epoch(1));
        let epoch = loader.epoch_from(1, 4);
        assert_eq!(epoch.position(), 4);
        assert_eq!(contents(epoch), full[4..].to_vec());
        assert_eq!(loader.epoch_from(1, 99).count(), 0);
    }

    #[test]
    fn dropping_an_epoch_early_stops_its_workers() {
        let loader = Loader::new(
            indexed(10_000),
            LoaderOptions {
                workers: 3,
                ..plain(1)
            },
        )
        .unwrap();
        for _ in 0..20 {
            let mut epoch = loader.epoch(0);
            epoch.next().unwrap().unwrap();
            // Drop joins the workers, which are blocked on full queues: this must not hang.
        }
    }

    fn faulty(fault: Fault, workers: usize) -> Loader {
        let mut loader = Loader::new(
            indexed(50),
            LoaderOptions {
                workers,
                ..plain(5)
            },
        )
        .unwrap();
        Arc::get_mut(&mut loader.shared).unwrap().fault = Some(fault);
        loader
    }

    #[test]
    fn a_worker_panic_surfaces_as_an_error_then_the_epoch_ends() {
        for workers in [1, 3] {
            let results: Vec<_> = faulty(Fault::Panic(4), workers).epoch(0).collect();
            assert_eq!(results.len(), 5, "4 good batches then the error");
            assert!(results[..4].iter().all(Result::is_ok));
            let err = results[4].as_ref().unwrap_err();
            assert!(
                matches!(err, LoaderError::WorkerPanic { batch: 4, .. }),
                "{err:?}"
            );
            assert!(
                err.to_string().contains("injected panic at batch 4"),
                "{err}"
            );
        }
    }

    #[test]
    fn a_worker_error_surfaces_in_order() {
        let results: Vec<_> = faulty(Fault::Error(2), 2).epoch(0).collect();
        assert_eq!(results.len(), 3);
        assert!(matches!(
            results[2],
            Err(LoaderError::Tensor { batch: 2, .. })
        ));
    }

    #[test]
    fn invalid_options_are_rejected() {
        for opts in [
            plain(0),
            LoaderOptions {
                workers: 0,
                ..plain(1)
            },
            LoaderOptions {
                prefetch: 0,
                ..plain(1)
            },
        ] {
            assert!(matches!(
                Loader::new(indexed(3), opts),
                Err(LoaderError::Option { value: 0, .. })
            ));
        }
        let wrong_channels = LoaderOptions {
            normalize: Normalize::cifar10(),
            ..plain(1)
        };
        assert!(matches!(
            Loader::new(indexed(3), wrong_channels),
            Err(LoaderError::Augment(_))
        ));
    }
}
