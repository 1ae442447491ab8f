//! The prefetching loader: worker threads turn dataset items into whole batches (augmented,
//! normalised `f32` tensors) and hand them over through bounded queues while the model trains.
//!
//! Batch `b` of epoch `e` is a pure function of `(seed, e, b)`: the epoch's shuffle comes from
//! `(seed, e)` and the augmentation of the batch's `j`-th item from `(seed, e, b, j)`, so the
//! number of workers changes speed only, and a data-parallel rank can make just its rows of a
//! batch ([`Loader::epoch_shard`]), identical to those rows of the whole batch. Worker `w` makes batches `w, w + workers, …` into its own queue and the epoch reads
//! the queues in turn, so batches arrive in order without a reordering buffer.
//!
//! Items come from an in-memory [`Dataset`] (augmented by a [`Transform`], optionally resized
//! first) or from [`ImageFiles`] decoded on the workers and cropped by a [`FolderCrop`].

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::Arc;
use std::thread::JoinHandle;

use image::imageops::FilterType;
use onecycle::data::Shard;
use tch::Tensor;

use crate::augment::{Augment, AugmentError, FolderCrop, Normalize, Transform};
use crate::dataset::Dataset;
use crate::folder::{FolderError, ImageFiles};
use onecycle::rng::Rng;

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
    /// Random augmentation; `None` for validation (the images pass unchanged). In-memory data only.
    pub augment: Option<Augment>,
    /// Resize in-memory images (bilinear) to `(height, width)` before the augmentation, for
    /// progressive resizing; `None` keeps their size.
    pub resize: Option<(usize, usize)>,
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
            resize: None,
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
    #[error(transparent)]
    Folder(#[from] FolderError),
    #[error("loader option {0} applies to in-memory datasets; image files are cropped by their FolderCrop")]
    NotForFiles(&'static str),
}

/// Where the items come from and how one becomes output pixels.
enum Items {
    Memory {
        data: Arc<Dataset>,
        transform: Transform,
    },
    Files {
        files: Arc<ImageFiles>,
        crop: FolderCrop,
        table: Vec<[f32; 256]>,
    },
}

impl Items {
    fn len(&self) -> usize {
        match self {
            Items::Memory { data, .. } => data.len(),
            Items::Files { files, .. } => files.len(),
        }
    }

    fn label(&self, i: usize) -> u8 {
        match self {
            Items::Memory { data, .. } => data.label(i),
            Items::Files { files, .. } => files.label(i),
        }
    }

    fn output_shape(&self) -> (usize, usize, usize) {
        match self {
            Items::Memory { transform, .. } => transform.output_shape(),
            Items::Files { crop, .. } => (3, crop.size(), crop.size()),
        }
    }

    /// Writes item `i`, with its random choices drawn from `rng`, into `out`.
    fn write(&self, i: usize, rng: &mut Rng, out: &mut [f32]) -> Result<(), LoaderError> {
        match self {
            Items::Memory { data, transform } => transform.apply_random(data.image(i), rng, out),
            Items::Files { files, crop, table } => crop.apply(&files.decode(i)?, rng, table, out),
        }
        Ok(())
    }
}

/// Everything the workers share.
struct Shared {
    source: Items,
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
        let transform = Transform::resizing(
            data.shape(),
            options.resize,
            options.augment.clone(),
            &options.normalize,
        )?;
        Loader::with_items(Items::Memory { data, transform }, options)
    }

    /// A loader over image files, decoded on the workers and turned into `crop.size()` squares by
    /// `crop` (random for training, centred for validation), normalised by `options.normalize`.
    /// `options.augment` and `options.resize` must be `None`.
    pub fn from_files(
        files: impl Into<Arc<ImageFiles>>,
        crop: FolderCrop,
        options: LoaderOptions,
    ) -> Result<Self, LoaderError> {
        if options.augment.is_some() {
            return Err(LoaderError::NotForFiles("augment"));
        }
        if options.resize.is_some() {
            return Err(LoaderError::NotForFiles("resize"));
        }
        crop.check()?;
        options.normalize.check(3)?;
        let table = options.normalize.table();
        let files = files.into();
        Loader::with_items(Items::Files { files, crop, table }, options)
    }

    fn with_items(source: Items, options: LoaderOptions) -> Result<Self, LoaderError> {
        for (name, value) in [
            ("batch_size", options.batch_size),
            ("workers", options.workers),
            ("prefetch", options.prefetch),
        ] {
            if value == 0 {
                return Err(LoaderError::Option { name, value });
            }
        }
        let available = options.limit.unwrap_or(usize::MAX).min(source.len());
        let items = if options.drop_last {
            available / options.batch_size * options.batch_size
        } else {
            available
        };
        let shared = Arc::new(Shared {
            source,
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

    /// The in-memory dataset; `None` for a loader over image files.
    pub fn dataset(&self) -> Option<&Arc<Dataset>> {
        match &self.shared.source {
            Items::Memory { data, .. } => Some(data),
            Items::Files { .. } => None,
        }
    }

    /// Item `i` as a picture, before any crop or normalisation (decoded for image files).
    pub fn picture(&self, i: usize) -> Result<image::RgbImage, LoaderError> {
        Ok(match &self.shared.source {
            Items::Memory { data, .. } => data.picture(i),
            Items::Files { files, .. } => files.decode(i)?,
        })
    }

    /// Any picture as one input of this loader (a `1×c×h×w` tensor): resized to the dataset's
    /// image size for in-memory data, cropped as the loader crops for image files, normalised;
    /// a validation loader's input is what its model was validated on.
    pub fn input(&self, picture: &image::RgbImage) -> Result<Tensor, LoaderError> {
        let (c, h, w) = self.shared.source.output_shape();
        let mut out = vec![0f32; c * h * w];
        let mut rng = Rng::from_keys(&[self.shared.seed, AUGMENT_STREAM]);
        match &self.shared.source {
            Items::Memory { data, transform } => {
                let (dc, dh, dw) = data.shape();
                let sized = match picture.dimensions() == (dw as u32, dh as u32) {
                    true => picture.clone(),
                    false => {
                        image::imageops::resize(picture, dw as u32, dh as u32, FilterType::Triangle)
                    }
                };
                let mut chw = vec![0u8; dc * dh * dw];
                for (k, px) in sized.pixels().enumerate() {
                    for ch in 0..dc {
                        // One channel: the mean of red, green and blue.
                        chw[ch * dh * dw + k] = match dc {
                            1 => ((px[0] as u16 + px[1] as u16 + px[2] as u16) / 3) as u8,
                            _ => px[ch],
                        };
                    }
                }
                transform.apply_random(&chw, &mut rng, &mut out)
            }
            Items::Files { crop, table, .. } => crop.apply(picture, &mut rng, table, &mut out),
        }
        Ok(Tensor::from_slice(&out).reshape([1, c as i64, h as i64, w as i64]))
    }

    /// Items in the underlying dataset or file list (before `limit` and `drop_last`).
    pub fn source_len(&self) -> usize {
        self.shared.source.len()
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
        self.shared.source.output_shape()
    }

    /// Dataset indices of epoch `epoch`, in the order the batches use them.
    pub fn order(&self, epoch: u64) -> Vec<u32> {
        let available = self
            .options
            .limit
            .unwrap_or(usize::MAX)
            .min(self.shared.source.len());
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
        self.spawn(epoch, start, None)
    }

    /// [`epoch_from`](Loader::epoch_from) with only `shard`'s rows of every batch loaded (a
    /// data-parallel rank's part; empty where a batch has fewer items than ranks).
    pub fn epoch_shard(&self, epoch: u64, start: usize, shard: Shard) -> Epoch {
        self.spawn(epoch, start, Some(shard))
    }

    fn spawn(&self, epoch: u64, start: usize, shard: Option<Shard>) -> Epoch {
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
                .spawn(move || work(&shared, &order, epoch, shard, batches, &tx, &stop))
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
    shard: Option<Shard>,
    batches: impl Iterator<Item = usize>,
    tx: &SyncSender<Result<Batch, LoaderError>>,
    stop: &AtomicBool,
) {
    let mut buffer = Vec::new();
    for b in batches {
        if stop.load(Ordering::Relaxed) {
            return;
        }
        let result = make_batch(shared, order, epoch, b, shard, &mut buffer);
        let failed = result.is_err();
        if tx.send(result).is_err() || failed {
            return;
        }
    }
}

/// Fills `buffer` with batch `b` of the epoch whose item order is `order` (only `shard`'s rows
/// when given), then wraps it in tensors.
fn make_batch(
    shared: &Shared,
    order: &[u32],
    epoch: u64,
    b: usize,
    shard: Option<Shard>,
    buffer: &mut Vec<f32>,
) -> Result<Batch, LoaderError> {
    #[cfg(test)]
    tests::inject(shared.fault, b)?;
    let items = &order[b * shared.batch_size..((b + 1) * shared.batch_size).min(order.len())];
    let rows = shard.map_or(0..items.len(), |s| s.range(items.len()));
    let (c, h, w) = shared.source.output_shape();
    let per_image = c * h * w;
    buffer.resize(rows.len() * per_image, 0.0);
    let mut labels = Vec::with_capacity(rows.len());
    for (j, out) in rows.zip(buffer.chunks_exact_mut(per_image)) {
        let i = items[j] as usize;
        let mut rng = Rng::from_keys(&[shared.seed, epoch, b as u64, AUGMENT_STREAM, j as u64]);
        shared.source.write(i, &mut rng, out)?;
        labels.push(shared.source.label(i) as i64);
    }
    let tensor_error = |e: tch::TchError| LoaderError::Tensor {
        batch: b,
        message: e.to_string(),
    };
    let images = Tensor::f_from_slice(buffer.as_slice())
        .and_then(|t| t.f_view([labels.len() as i64, c as i64, h as i64, w as i64]))
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
    fn a_shard_gets_exactly_its_rows_of_every_augmented_batch() {
        // 40 items in batches of 6: the last batch has 4, so rank 0 of 5 gets none of it.
        let loader = augmented(2, 2);
        let full = contents(loader.epoch(2));
        let per_image = 3 * 6 * 7;
        for world in [2, 5] {
            for rank in 0..world {
                let shard = Shard { rank, world };
                let mine = contents(loader.epoch_shard(2, 0, shard));
                assert_eq!(mine.len(), full.len());
                for (b, ((images, labels), (all_images, all_labels))) in
                    mine.iter().zip(&full).enumerate()
                {
                    let rows = shard.range(all_labels.len());
                    assert_eq!(labels[..], all_labels[rows.clone()], "batch {b}, {shard:?}");
                    let pixels = &all_images[rows.start * per_image..rows.end * per_image];
                    assert_eq!(images[..], pixels[..], "batch {b}, {shard:?}");
                }
            }
        }
        let last = contents(loader.epoch_shard(2, 6, Shard { rank: 0, world: 5 }));
        assert_eq!(last.len(), 1);
        assert!(last[0].1.is_empty());
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
    fn resize_changes_the_batch_size_of_in_memory_images() {
        let data = Dataset::new(
            vec![50; 4 * 3 * 8 * 8],
            vec![0, 1, 2, 3],
            (0..4).map(|i| i.to_string()).collect(),
            (3, 8, 8),
        )
        .unwrap();
        let opts = LoaderOptions {
            resize: Some((4, 6)),
            ..LoaderOptions::train(2)
        };
        let loader = Loader::new(data, opts).unwrap();
        assert_eq!(loader.output_shape(), (3, 4, 6));
        let b = loader.epoch(0).next().unwrap().unwrap();
        assert_eq!(b.images.size(), vec![2, 3, 4, 6]);
    }

    #[test]
    fn image_files_are_decoded_and_cropped_on_the_workers() {
        let tmp = tempfile::tempdir().unwrap();
        for (class, n) in [("a", 3), ("b", 2)] {
            let dir = tmp.path().join(class);
            std::fs::create_dir_all(&dir).unwrap();
            for i in 0..n {
                image::RgbImage::from_pixel(20 + 5 * i, 30, image::Rgb([255, 0, 0]))
                    .save(dir.join(format!("{i}.png")))
                    .unwrap();
            }
        }
        let files = Arc::new(crate::folder::list(tmp.path()).unwrap());
        let opts = LoaderOptions {
            normalize: Normalize::unit(3),
            ..LoaderOptions::valid(2)
        };
        let loader = Loader::from_files(files.clone(), FolderCrop::valid(8), opts.clone()).unwrap();
        assert_eq!((loader.len(), loader.output_shape()), (3, (3, 8, 8)));
        assert!(loader.dataset().is_none() && loader.source_len() == 5);
        let batches: Vec<Batch> = loader.epoch(0).map(Result::unwrap).collect();
        assert_eq!(batches[0].images.size(), vec![2, 3, 8, 8]);
        assert_eq!(Vec::<i64>::try_from(&batches[2].labels).unwrap(), vec![1]);
        // Red stays red: channel 0 is 1, the others 0.
        let red = floats(&batches[1].images.narrow(1, 0, 1).contiguous());
        assert!(red.iter().all(|&v| (v - 1.0).abs() < 1e-6));
        // Training crops with any worker count give the same batches.
        let train = |workers| {
            let opts = LoaderOptions {
                workers,
                shuffle: true,
                ..opts.clone()
            };
            contents(
                Loader::from_files(files.clone(), FolderCrop::train(6), opts)
                    .unwrap()
                    .epoch(1),
            )
        };
        assert_eq!(train(1), train(3));
        let with_augment = LoaderOptions {
            augment: Some(Augment::cifar()),
            ..opts
        };
        assert!(matches!(
            Loader::from_files(files, FolderCrop::valid(8), with_augment),
            Err(LoaderError::NotForFiles("augment"))
        ));
    }

    #[test]
    fn an_unreadable_file_is_an_error_naming_it() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(tmp.path().join("a")).unwrap();
        std::fs::write(tmp.path().join("a").join("bad.jpg"), b"no jpeg").unwrap();
        let files = crate::folder::list(tmp.path()).unwrap();
        let opts = LoaderOptions {
            normalize: Normalize::imagenet(),
            ..LoaderOptions::valid(1)
        };
        let loader = Loader::from_files(files, FolderCrop::valid(4), opts).unwrap();
        let err = loader.epoch(0).next().unwrap().unwrap_err();
        assert!(err.to_string().contains("bad.jpg"), "{err}");
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
